from claims.services import tasks
def test_smoke(demo):
    for t in tasks.list_tasks(demo, "alice"):
        print(t["id"], t["claim"], t["kind"], t["items"], t["actions"], t["unblocks"], t["closest"], t["need"])
    import json
    print(json.dumps(tasks.action_plans(demo), indent=1)[:3000])
