@audit
Feature: The audit chain
  Every change appends an event whose hash covers the event before it. Cutting one event out
  of the log is caught, however the next event is relinked to hide the hole.

  Background:
    Given the EU drones case has been imported and assessed

  Scenario: An untouched log verifies
    Then the audit log verifies

  Scenario: A deleted event, the next one relinked to the one before
    When an event in the middle of the log is deleted and the next event relinked to the one before
    Then the audit log fails at the relinked event because "content does not match its hash"

  Scenario: A deleted event, the next one relinked and its hash recomputed
    When an event in the middle of the log is deleted and the next event relinked and rehashed
    Then the audit log fails after the relinked event because "prev_hash does not match event before it"
