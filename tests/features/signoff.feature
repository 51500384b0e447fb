@signoff
Feature: Sign-off through the flow
  A request to confirm a claim waits for a reviewer in a paused flow run. A decision typed into
  that run counts only with a one-time code, which only a reviewer other than the requester can
  get, and goes through the same rules as `claims review approve`. A refused decision leaves the
  run waiting; a decision taken elsewhere ends it.

  Background:
    Given a case with the sources
      | key     | reliability | derived_from |
      | reuters | B           |              |
      | afp     | C           |              |
      | osint   | C           |              |
    And a reported claim "factory"
    And "reuters" supports "factory" with credibility 2
    And "afp" supports "factory" with credibility 3
    And "osint" supports "factory" with credibility 3
    And "factory" has been corroborated by "alice"
    And "bob" has requested confirmation of "factory"
    And the sign-off run for the review waits for a decision

  Scenario: The requester is refused, another reviewer confirms the claim
    Then the sign-off form shows the request by "bob" and the gap "awaiting sign-off by a reviewer other than bob"
    When "bob" submits approve in the sign-off run
    Then the sign-off run refuses it because "cannot also decide it (four eyes)" and waits again
    When "carol" submits approve in the sign-off run because "three independent lines, one of them B2"
    Then the sign-off run ends with the review approved by "carol" through the run
    And "factory" is confirmed
    And the last events of "factory" are
      | kind                | actor | to        |
      | review.requested    | bob   | confirmed |
      | signoff_code.issued | carol |           |
      | review.approved     | carol | confirmed |
      | claim.stage_changed | carol | confirmed |

  Scenario Outline: A decision the rules refuse leaves the run waiting
    When "<user>" submits <decision> in the sign-off run
    Then the sign-off run refuses it because "<why>" and waits again
    And "factory" is corroborated

    Examples:
      | user  | decision | why                                           |
      | bob   | reject   | four eyes                                     |
      | mia   | approve  | 'mia' has role manager, which may not approve |
      | carol | reject   | rejecting a review needs a rationale          |

  Scenario: A decision taken with the CLI while the run waits is applied once
    When "carol" approves the review with the command line
    Then the sign-off run ends with the review approved by "carol" outside the run
    And "factory" is confirmed
    And "factory" has exactly one "review.approved" event and one "claim.stage_changed" event to confirmed
