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
    """Complaint statuses. Names after `opened` follow TMF621 Trouble Ticket."""

    OPENED = "opened"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "inProgress"
    RESOLVED = "resolved"
    CLOSED = "closed"


class OrderStatus(StrEnum):
    IN_PROGRESS = "inProgress"
    ACTIVATED = "activated"
    PARTIALLY_ACTIVATED = "partiallyActivated"
    CANCELLED = "cancelled"


class ServiceStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    CANCELLED = "cancelled"
