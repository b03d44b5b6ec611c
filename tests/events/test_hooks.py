import pytest

from events.hooks import Hook, HookConfigError, match_metrics, parse_events_config, plan_for

REFERENCE = {
    "cooldown_seconds": 60,
    "hooks": [
        {"name": "git_post_commit", "trigger": "post-commit", "metrics": ["code_base.*", "documentation.*", "git.*"]},
        {"name": "s3_upload_complete", "trigger": "s3_event", "metrics": ["s3_storage.*", "espn_data.*"]},
        {"name": "scraper_complete", "trigger": "scraper_complete", "metrics": ["data_gaps.*"], "reconcile": True},
        {"name": "daily_sync_check", "trigger": "cron:0 9 * * *", "metrics": ["s3_storage.*"]},
        {"name": "monthly_audit", "trigger": "cron:0 0 1 * *", "metrics": ["*"]},
    ],
}
METRICS = ["code_base.python_files", "git.commits", "s3_storage.total_objects", "espn_data.pbp_files",
           "data_gaps.open", "documentation.markdown_files"]


def test_reference_config_parses():
    cfg = parse_events_config(REFERENCE)
    assert cfg.cooldown_seconds == 60 and cfg.enabled
    assert [h.name for h in cfg.cron_hooks()] == ["daily_sync_check", "monthly_audit"]
    assert cfg.hook("monthly_audit").cron == "0 0 1 * *"


@pytest.mark.parametrize("event_type, hooks", [
    ("git_post_commit", ["git_post_commit"]),      # by name
    ("post-commit", ["git_post_commit"]),          # by trigger
    ("s3_event", ["s3_upload_complete"]),
    ("scraper_complete", ["scraper_complete"]),
    ("daily_sync_check", ["daily_sync_check"]),    # a cron hook fires by its name (its schedule)
    ("cron:0 9 * * *", []),                        # never by its cron trigger
    ("unknown", []),
])
def test_matching_by_name_or_trigger(event_type, hooks):
    cfg = parse_events_config(REFERENCE)
    assert [h.name for h in cfg.matching(event_type)] == hooks


def test_wildcard_trigger_and_metric_patterns():
    cfg = parse_events_config({"hooks": [{"name": "any_s3", "trigger": "s3_*", "metrics": ["s3_storage.*"]}]})
    assert [h.name for h in cfg.matching("s3_event")] == ["any_s3"]
    assert cfg.matching("git_post_commit") == []
    plan = plan_for(cfg, "s3_event", METRICS)
    assert plan.metrics == ["s3_storage.total_objects"]
    assert match_metrics(["*"], METRICS) == METRICS
    assert match_metrics(["git.*", "code_base.python_files"], METRICS) == ["code_base.python_files", "git.commits"]
    # fnmatch is case-sensitive: patterns do not match other spellings
    assert match_metrics(["GIT.*"], METRICS) == []


def test_plan_unions_hooks_and_reconcile_flag():
    cfg = parse_events_config({"hooks": [
        {"name": "a", "trigger": "x", "metrics": ["git.*"]},
        {"name": "b", "trigger": "x", "metrics": ["git.*", "data_gaps.*"], "reconcile": True},
    ]})
    plan = plan_for(cfg, "x", METRICS)
    assert plan.patterns == ["git.*", "data_gaps.*"]
    assert plan.metrics == ["git.commits", "data_gaps.open"]
    assert plan.reconcile is True


def test_disabled_events_plan_nothing():
    cfg = parse_events_config({**REFERENCE, "enabled": False})
    assert plan_for(cfg, "git_post_commit", METRICS).hooks == []


def test_bare_hook_names_of_the_original_are_accepted():
    cfg = parse_events_config({"hooks": ["git_post_commit", "scraper_complete"]})
    assert cfg.hooks[0] == Hook(name="git_post_commit")
    assert [h.name for h in cfg.matching("scraper_complete")] == ["scraper_complete"]


def test_original_cron_form_with_schedule_key():
    cfg = parse_events_config({"hooks": [{"name": "monthly_audit", "trigger": "cron", "schedule": "0 0 1 * *",
                                          "metrics": ["data_gaps.*"]}]})
    assert cfg.hooks[0].cron == "0 0 1 * *"
    assert [h.name for h in cfg.cron_hooks()] == ["monthly_audit"]


@pytest.mark.parametrize("raw, where", [
    ([], "events: expected a mapping"),
    ({"hooks": [{"name": "a", "trigger": "cron"}]}, "events.hooks[0].trigger: `cron` needs `schedule:`"),
    ({"hooks": [{"name": "a", "trigger": "post-commit", "schedule": "0 * * * *"}]}, "events.hooks[0].schedule"),
    ({"hooks": [{"name": "a", "trigger": "cron", "schedule": "99 * * * *"}]}, "events.hooks[0].trigger: invalid cron"),
    ({"cooldown_seconds": -1}, "events.cooldown_seconds"),
    ({"cooldown_seconds": "60"}, "events.cooldown_seconds"),
    ({"hooks": {"a": 1}}, "events.hooks: expected a list"),
    ({"hooks": [{"trigger": "x"}]}, "events.hooks[0].name"),
    ({"hooks": [{"name": "a"}, {"name": "a"}]}, "events.hooks[1].name: duplicate"),
    ({"hooks": [{"name": "a", "metrics": [1]}]}, "events.hooks[0].metrics"),
    ({"hooks": [{"name": "a", "reconcile": "yes"}]}, "events.hooks[0].reconcile"),
    ({"hooks": [{"name": "a", "trigger": "cron:61 * * * *"}]}, "events.hooks[0].trigger: invalid cron"),
    ({"hooks": [{"name": "a", "metric": ["x"]}]}, "events.hooks[0]: unknown key(s) metric"),
])
def test_malformed_config_names_the_key(raw, where):
    with pytest.raises(HookConfigError) as exc:
        parse_events_config(raw)
    assert where in str(exc.value)
