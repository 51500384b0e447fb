@four_eyes
Feature: Four eyes
  Confirming or refuting a claim needs a reviewer's sign-off, and the reviewer must not be
  the person who asked for it.

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

  Scenario: Another reviewer can approve
    When "carol" approves the review
    Then "factory" is confirmed
    And the last stage change of "factory" names "bob" as requester and "carol" as approver

  Scenario Outline: Nobody else can approve
    When "<user>" approves the review
    Then the request is refused as <error> with "<why>"
    And "factory" is corroborated
    And the review is still pending, awaiting sign-off by a reviewer other than "bob"

    Examples:
      | user  | error            | why                                           |
      | bob   | RuleViolation    | 'bob' requested review                        |
      | mia   | PermissionDenied | 'mia' has role manager, which may not approve |
      | alice | PermissionDenied | 'alice' has role analyst, which may not approve |

  Scenario: The requester cannot reject their own request either
    When "bob" rejects the review because "changed my mind"
    Then the request is refused as RuleViolation with "four eyes"
    And the review is still pending, awaiting sign-off by a reviewer other than "bob"
