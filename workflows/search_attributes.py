"""The project's custom search attributes: one list, registered on the server by `intake up`
and the test fixtures, set by workflows so runs are findable in the Temporal UI.

In the UI's search box: `IntakeTeamId = "team-1"`, `IntakeWorkOrderId = "WO-10042"`,
`IntakeBatchId = "<batch id>"`.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TEAM_ID = SearchAttributeKey.for_keyword("IntakeTeamId")
USER_ID = SearchAttributeKey.for_keyword("IntakeUserId")
DISCUSSION_ID = SearchAttributeKey.for_keyword("IntakeDiscussionId")
WORK_ORDER_ID = SearchAttributeKey.for_keyword("IntakeWorkOrderId")
# The work-order workspace (its slug) and the batch a run imports.
WORKSPACE = SearchAttributeKey.for_keyword("IntakeWorkspace")
BATCH_ID = SearchAttributeKey.for_keyword("IntakeBatchId")

ALL: list[SearchAttributeKey[str]] = [TEAM_ID, USER_ID, DISCUSSION_ID, WORK_ORDER_ID, WORKSPACE, BATCH_ID]


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register every attribute at start."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}=Keyword"]
    return flags
