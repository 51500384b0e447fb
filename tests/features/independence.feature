@independence
Feature: Independent lines
  Evidence whose sources share a lineage root is one independent line, however many
  sources repeat it.

  Scenario: Diplomats repeating the EEAS are one line, not two
    Given a case with the sources
      | key        | reliability | derived_from |
      | eeas-intel | B           |              |
      | diplomats  | C           | eeas-intel   |
      | reuters    | B           |              |
    And a reported claim "factory"
    And "eeas-intel" supports "factory" with credibility 3
    And "diplomats" supports "factory" with credibility 2
    When the assessment runs
    Then "factory" is reported
    And the evidence from "diplomats" on "factory" has the independent root "eeas-intel"
    And "factory" shows the gap "needs 1 more independent supporting source graded C3 or better (has 1 of 2)"
    When "reuters" supports "factory" with credibility 2
    And the assessment runs
    Then "factory" is corroborated

  Scenario: A chain of repetitions still leads to one root
    Given a case with the sources
      | key        | reliability | derived_from |
      | eeas-intel | B           |              |
      | diplomats  | C           | eeas-intel   |
      | blog       | C           | diplomats    |
    And a reported claim "factory"
    And "diplomats" supports "factory" with credibility 2
    And "blog" supports "factory" with credibility 3
    When the assessment runs
    Then "factory" is reported
    And the evidence from "blog" on "factory" has the independent root "eeas-intel"

  Scenario: In the EU drones case the factory claim stands on two lines, not three
    Given the EU drones case has been imported and assessed
    Then "factory-exists" is corroborated
    And the evidence from "diplomats" on "factory-exists" has the independent root "eeas-intel"
    And "factory-exists" shows the gap "needs 1 more independent supporting source graded C3 or better (has 2 of 3)"
