"""Domain errors: each carries a one-line message naming the field and the value."""


class DomainError(ValueError):
    """Base for every rule violation the user can cause; the CLI prints it as one line."""


class InvalidGrade(DomainError):
    """A reliability, credibility or grade string outside the Admiralty scales."""


class LineageCycle(DomainError):
    """`derived_from` links that loop back on themselves have no root."""


class IllegalTransition(DomainError):
    """A stage change that docs/design.md section 3 does not allow."""


class RuleViolation(DomainError):
    """The request is well-formed but the policy or four eyes forbid it now."""


class ParseError(DomainError):
    """A word (stage, stance) outside the domain's vocabulary."""


class InvalidPolicy(DomainError):
    """A threshold policy file that cannot be understood."""
