"""ONI message reward models and the NetHack feature extractor."""

from advrl.agents.oni.extractor import NetHackExtractor
from advrl.agents.oni.models import BradleyTerryRanker, MessageClassifier, preference_pairs

__all__ = ["BradleyTerryRanker", "MessageClassifier", "NetHackExtractor", "preference_pairs"]
