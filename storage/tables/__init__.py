# The database schema in one place, so the storage functions, the Alembic migrations and the tests agree on it:
# columns.py (shared column types), conversations.py (conversations, lanes, messages, annotations),
# experiments.py (suites, runs, cells, samples), judgements.py (blind-review votes), turn_leases.py (one turn at a
# time per conversation), directions.py (persona directions). Importing this package registers every table with
# SQLModel's metadata.

from storage.tables.columns import SEED as SEED
from storage.tables.columns import UTCDateTime as UTCDateTime
from storage.tables.columns import utcnow as utcnow
from storage.tables.conversations import LANE_KINDS as LANE_KINDS
from storage.tables.conversations import MESSAGE_STATUSES as MESSAGE_STATUSES
from storage.tables.conversations import RATINGS as RATINGS
from storage.tables.conversations import SAMPLING_FIELDS as SAMPLING_FIELDS
from storage.tables.conversations import Annotation as Annotation
from storage.tables.conversations import Conversation as Conversation
from storage.tables.conversations import Lane as Lane
from storage.tables.conversations import LaneKind as LaneKind
from storage.tables.conversations import Message as Message
from storage.tables.conversations import MessageStatus as MessageStatus
from storage.tables.conversations import Role as Role
from storage.tables.conversations import sampling_columns as sampling_columns
from storage.tables.directions import Direction as Direction
from storage.tables.experiments import Experiment as Experiment
from storage.tables.experiments import Run as Run
from storage.tables.experiments import RunCell as RunCell
from storage.tables.experiments import RunSample as RunSample
from storage.tables.judgements import Judgement as Judgement
from storage.tables.turn_leases import TurnLease as TurnLease
