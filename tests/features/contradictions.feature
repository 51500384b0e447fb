@stages
Feature: Contradicting evidence
  A live contradicting line graded C3 or better blocks confirmation, and a claim is refuted
  only when its contradicting lines outnumber its supporting ones: a tie refutes nothing.
  Approving a request is judged on the evidence at the time of approval, not of the request.

  Background:
    Given a case with the sources
      | key       | reliability | derived_from |
      | reuters   | B           |              |
      | afp       | C           |              |
      | osint     | C           |              |
      | xinhua    | B           |              |
      | china-mfa | C           |              |
      | tass      | C           |              |
    And a reported claim "factory"

  Scenario: A contradicting C3 line blocks confirmation
    Given "reuters" supports "factory" with credibility 2
    And "afp" supports "factory" with credibility 3
    And "osint" supports "factory" with credibility 3
    And "factory" has been corroborated by "alice"
    And "china-mfa" contradicts "factory" with credibility 3
    When "alice" asks to move "factory" to confirmed
    Then the request is refused as RuleViolation with "a contradicting C3 item from Source china-mfa is unresolved"
    When the assessment runs
    Then "factory" is corroborated
    And "factory" has no pending review

  Scenario: Approving after a contradiction arrived is refused
    Given "reuters" supports "factory" with credibility 2
    And "afp" supports "factory" with credibility 3
    And "osint" supports "factory" with credibility 3
    And "factory" has been corroborated by "alice"
    And "bob" has requested confirmation of "factory"
    When "china-mfa" contradicts "factory" with credibility 3
    And "carol" approves the review
    Then the request is refused as RuleViolation with "can no longer be approved"
    And "factory" is corroborated

  Scenario: A tie between contradicting and supporting lines does not refute
    Given "reuters" supports "factory" with credibility 2
    And "afp" supports "factory" with credibility 3
    And "xinhua" contradicts "factory" with credibility 2
    And "china-mfa" contradicts "factory" with credibility 3
    When the assessment runs
    Then "factory" is corroborated
    And "factory" has no pending review
    And "factory" shows the gap "needs more independent contradicting lines than supporting ones graded C3 or better (has 2 vs 2)"
    When "alice" asks to move "factory" to refuted
    Then the request is refused as RuleViolation with "(has 2 vs 2)"
    When "tass" contradicts "factory" with credibility 3
    And the assessment runs
    Then "factory" has a pending review to refuted
