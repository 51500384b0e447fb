from claims import services


def test_demo_case_corroborates_the_factory_claim(demo):
    detail = services.claim_detail(demo, "factory-exists")
    assert detail["stage"] == "corroborated"
    assert services.audit_verify(demo).ok
