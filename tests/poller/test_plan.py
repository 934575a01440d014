"""Planning one CL: triggers in the context of its config group, cancels, proposals."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from support import HOST, T0, change_info

from cvmigrate.changelist.botdata import Action, BotData, ChangeID, format_bot_data
from cvmigrate.changelist.fetch import FetchedCL
from cvmigrate.changelist.trigger import Trigger
from cvmigrate.config import ProjectSettings
from cvmigrate.poller.config_groups import ConfigGroupMatcher
from cvmigrate.poller.decide import FrozenCL
from cvmigrate.poller.plan import UnfinishedRun, plan_cl
from cvmigrate.proto import gerrit
from cvmigrate.runs.attempt_key import TriggeredCL, compute_attempt_key
from cvmigrate.runs.model import Run
from cvmigrate.runs.status import Status

QUICK = {
    "name": "QUICK_DRY_RUN",
    "cq_label_value": 1,
    "triggering_label": "Quick-Run",
    "triggering_value": 1,
}


def settings(in_charge: str = "cv") -> ProjectSettings:
    return ProjectSettings(
        name="chromium",
        in_charge=in_charge,
        config_groups=[
            {
                "name": "main",
                "host": HOST,
                "repos": ["chromium/src"],
                "refs": ["refs/heads/main"],
                "additional_modes": [QUICK],
            },
            {"name": "branches", "host": HOST, "repos": ["chromium/src"], "refs": ["refs/.*"]},
        ],
    )


def fetched(info: gerrit.ChangeInfo, patchset: int = 1) -> FetchedCL:
    return FetchedCL(host=HOST, info=info, patchset=patchset, min_equivalent_patchset=patchset)


def plan(cl: FetchedCL, runs=(), in_charge: str = "cv", declined=frozenset()):
    project = settings(in_charge)
    matcher = ConfigGroupMatcher(project.config_groups)
    return plan_cl(cl, project=project, matcher=matcher, runs=runs, declined=declined)


def with_quick_run_vote(info: gerrit.ChangeInfo, at=T0, account: int = 1001) -> gerrit.ChangeInfo:
    info.labels["Quick-Run"] = gerrit.LabelInfo(
        all=[gerrit.ApprovalInfo(user=gerrit.AccountInfo(account_id=account), value=1, date=at)]
    )
    return info


def unfinished(cl: FetchedCL, trigger: Trigger, **run_fields) -> UnfinishedRun:
    run = Run(
        id="chromium/9000000000000-1-aaaaaaaaaaaaaaaa",
        project="chromium",
        attempt_key="aaaaaaaaaaaaaaaa",
        mode=trigger.mode,
        status=run_fields.pop("status", Status.RUNNING),
        config_group="main",
        create_time=trigger.time,
        cl_ids=(1,),
        **run_fields,
    )
    frozen = FrozenCL(
        cl_id=1,
        host=HOST,
        change=cl.number,
        project=cl.info.project,
        patchset=cl.patchset,
        ref=cl.info.ref,
        trigger=trigger,
    )
    return UnfinishedRun(run=run, cls=(frozen,))


def test_triggered_cl_in_a_group_is_proposed_with_its_attempt_key() -> None:
    info = change_info(5, vote_value=2)
    found = plan(fetched(info))
    assert found.group is not None and found.group.name == "main"
    assert found.trigger == Trigger(
        time=T0, mode="FULL_RUN", email="u1001@example.com", gerrit_account_id=1001
    )
    assert found.propose and not found.cancel_reasons
    assert found.attempt_key == compute_attempt_key(
        [
            TriggeredCL(
                host=HOST,
                change=5,
                current_revision=info.current_revision,
                trigger_time=T0,
                mode="FULL_RUN",
                gerrit_account_id=1001,
            )
        ]
    )


def test_additional_mode_of_the_matching_group_applies() -> None:
    found = plan(fetched(with_quick_run_vote(change_info(5))))
    assert found.trigger is not None
    assert (found.trigger.mode, found.trigger.additional_label) == ("QUICK_DRY_RUN", "Quick-Run")


def test_additional_mode_of_another_group_does_not_apply() -> None:
    info = with_quick_run_vote(change_info(5))
    info.ref = "refs/heads/dev"  # matches "branches", which has no additional modes
    found = plan(fetched(info))
    assert found.group is not None and found.group.name == "branches"
    assert found.trigger is not None and found.trigger.mode == "DRY_RUN"


def test_quick_run_vote_at_another_time_is_a_plain_dry_run() -> None:
    info = with_quick_run_vote(change_info(5), at=T0 + timedelta(seconds=1))
    assert plan(fetched(info)).trigger.mode == "DRY_RUN"


def test_cl_outside_every_group_is_not_triggered() -> None:
    info = change_info(5, project="v8/v8")
    found = plan(fetched(info))
    assert (found.group, found.trigger, found.propose, found.attempt_key) == (
        None,
        None,
        False,
        None,
    )


def test_votes_cancelled_by_bot_data_do_not_trigger() -> None:
    info = change_info(5)
    bot_data = BotData(
        action=Action.CANCEL,
        triggered_at=T0,
        revision=info.current_revision,
        cls=(ChangeID(host=HOST, number=5),),
    )
    info.messages.append(
        gerrit.ChangeMessageInfo(id="m", date=T0, message="Failed.\n\n" + format_bot_data(bot_data))
    )
    assert plan(fetched(info)).trigger is None


def test_trigger_time_is_the_later_of_vote_and_patchset_upload() -> None:
    info = change_info(5, vote_time=T0)
    uploaded = T0 + timedelta(minutes=5)
    info.revisions[info.current_revision].created = uploaded
    assert plan(fetched(info)).trigger.time == uploaded


def test_cl_with_an_unfinished_run_is_not_proposed_again() -> None:
    cl = fetched(change_info(5))
    trigger = plan(cl).trigger
    found = plan(cl, runs=[unfinished(cl, trigger)])
    assert not found.propose and not found.cancel_reasons


def test_removed_vote_cancels_and_frees_the_cl_when_cv_is_in_charge() -> None:
    cl = fetched(change_info(5))
    run = unfinished(cl, plan(cl).trigger)
    info = change_info(5)
    info.labels["Commit-Queue"].all = []
    found = plan(fetched(info), runs=[run])
    assert found.cancel_reasons == {run.run.id: "the trigger on " + HOST + "/5 has been removed"}
    assert not found.propose  # no trigger, nothing to propose


def test_new_patchset_with_copied_vote_cancels_and_proposes_the_new_trigger() -> None:
    old = fetched(change_info(5))
    run = unfinished(old, plan(old).trigger)
    new = fetched(change_info(5, patchset=2), patchset=2)
    found = plan(new, runs=[run])
    assert "patchset" in found.cancel_reasons[run.run.id]
    assert found.propose


def test_cqdaemon_in_charge_delays_and_keeps_the_cl_busy() -> None:
    old = fetched(change_info(5))
    run = unfinished(old, plan(old).trigger)
    new = fetched(change_info(5, patchset=2), patchset=2)
    found = plan(new, runs=[run], in_charge="cqdaemon")
    assert run.run.id in found.cancel_reasons
    assert not found.propose


def test_verified_run_is_left_alone_and_blocks_new_runs() -> None:
    old = fetched(change_info(5))
    run = dataclasses.replace(unfinished(old, plan(old).trigger), verified=True)
    new = fetched(change_info(5, patchset=2), patchset=2)
    found = plan(new, runs=[run])
    assert not found.cancel_reasons and not found.propose


def test_declined_attempt_is_not_proposed_again() -> None:
    cl = fetched(change_info(5))
    key = plan(cl).attempt_key
    assert not plan(cl, declined=frozenset({key})).propose
