"""The operator's vocabulary: the closed sets of values an event may carry."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    HOTLINE = "hotline"
    STORE = "store"
    WEB = "web"
    APP = "app"
    SMS = "sms"
    EMAIL = "email"
    TECHNICIAN = "technician"
    KIOSK = "kiosk"
    ACCOUNT_MANAGER = "account_manager"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Outcome(StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"
    TRANSFERRED = "transferred"
    ABANDONED = "abandoned"
    NO_ANSWER = "no_answer"


class Segment(StrEnum):
    INDIVIDUAL = "individual"
    CORPORATE = "corporate"


class Tier(StrEnum):
    """Individual value tiers by ARPU, highest first."""

    DIAMOND = "diamond"
    GOLD = "gold"
    SILVER = "silver"
    VIP = "vip"
    ORDINARY = "ordinary"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ComplaintStatus(StrEnum):
    """Complaint statuses: the TMF621 Trouble Ticket status vocabulary.

    A complaint is `acknowledged` from the moment it is opened (TMF621: received and
    validated); `pending` waits on the customer, `held` is blocked inside the operator.
    """

    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    PENDING = "pending"
    HELD = "held"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class SlaState(StrEnum):
    """Where a complaint stands against its time limit (处理时限), at a given moment."""

    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"  # past the warning share of the allowance, not yet past the deadline
    BREACHED = "breached"  # past the deadline, still unresolved
    PAUSED = "paused"  # pending on the customer: the clock is stopped
    MET = "met"  # resolved (or otherwise ended) before the deadline
    MISSED = "missed"  # resolved after the deadline


class OrderStatus(StrEnum):
    IN_PROGRESS = "inProgress"
    ACTIVATED = "activated"
    PARTIALLY_ACTIVATED = "partiallyActivated"
    CANCELLED = "cancelled"


class NumberReleaseReason(StrEnum):
    """Why BOSS released a customer's number (customer.msisdn_released)."""

    ACCOUNT_CLOSED = "account_closed"  # 销户
    PORTED_OUT = "ported_out"  # 携号转网
    RECLAIMED = "reclaimed"  # 欠费停机后回收
    CHANGED_NUMBER = "changed_number"  # 改号
    OTHER = "other"


class ServiceStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CANCELLED = "cancelled"
