@stages
Feature: Stage rules
  A claim is corroborated automatically when two independent lines hold, demoted
  automatically when they no longer do, never jumps from reported to confirmed, and leaves
  a final stage only through an explicit reopen with a rationale.

  Background:
    Given a case with the sources
      | key     | reliability | derived_from |
      | reuters | B           |              |
      | afp     | C           |              |
      | osint   | C           |              |
    And a reported claim "factory"

  Scenario: Two independent C3 lines corroborate a claim automatically
    Given "reuters" supports "factory" with credibility 2
    And "afp" supports "factory" with credibility 3
    When the assessment runs
    Then "factory" is corroborated
    And the last stage change of "factory" went from reported to corroborated via the assessment under policy "v1"

  Scenario: One line is not enough
    Given "reuters" supports "factory" with credibility 1
    When the assessment runs
    Then "factory" is reported
    And "factory" shows the gap "needs 1 more independent supporting source graded C3 or better (has 1 of 2)"

  Scenario: A corroborated claim that loses a line is demoted
    Given "reuters" supports "factory" with credibility 2
    And "afp" supports "factory" with credibility 3
    And the assessment has run
    When the evidence from "afp" on "factory" is retracted
    And the assessment runs
    Then "factory" is reported
    And the last stage change of "factory" went from corroborated to reported via the assessment under policy "v1"
    And "factory" shows the gap "needs 1 more independent supporting source graded C3 or better (has 1 of 2)"

  Scenario: A reported claim cannot jump to confirmed, however strong the evidence
    Given "reuters" supports "factory" with credibility 1
    And "afp" supports "factory" with credibility 2
    And "osint" supports "factory" with credibility 2
    When "alice" asks to move "factory" to confirmed
    Then the request is refused as IllegalTransition with "reported -> confirmed is not allowed"
    And "factory" is reported

  Scenario: Reopening a confirmed claim needs a rationale, and is audited with it
    Given "reuters" supports "factory" with credibility 1
    And "afp" supports "factory" with credibility 2
    And "osint" supports "factory" with credibility 2
    And "factory" has been corroborated by "alice"
    And "alice" has requested confirmation of "factory"
    And "bob" has approved the review
    When "carol" reopens "factory" to corroborated with the rationale ""
    Then the request is refused as InvalidInput with "rationale"
    And "factory" is confirmed
    When "carol" reopens "factory" to corroborated with the rationale "the Reuters documents were forged"
    Then "factory" is corroborated
    And the last stage change of "factory" went from confirmed to corroborated via a reopen by "carol" because "the Reuters documents were forged"

  Scenario: A confirmed claim that loses evidence is flagged at risk, never demoted
    Given "reuters" supports "factory" with credibility 1
    And "afp" supports "factory" with credibility 2
    And "osint" supports "factory" with credibility 2
    And "factory" has been corroborated by "alice"
    And "alice" has requested confirmation of "factory"
    And "bob" has approved the review
    When the evidence from "osint" on "factory" is retracted
    And the assessment runs
    Then "factory" is confirmed
    And "factory" is flagged at risk
