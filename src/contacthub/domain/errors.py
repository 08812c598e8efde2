"""Errors the domain raises when a command would break one of its rules."""

from __future__ import annotations


class RuleViolation(Exception):
    """A command that the customer's history does not allow.

    `field` names the input that is at fault, so that the API can point at it.
    `code` is a stable machine-readable reason.
    """

    def __init__(self, field: str, message: str, code: str = "rule_violation") -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.code = code


class UnknownCustomer(RuleViolation):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message, code="unknown_customer")
