"""The catalog: config.yaml and the event files, loaded once into immutable models."""

from .load import event_files, load_catalog
from .models import Catalog, Config, Event, Session, Topic

__all__ = ["Catalog", "Config", "Event", "Session", "Topic", "event_files", "load_catalog"]
