"""The fake cluster's APIs, one module each (franz-go kfake style).

Theory of operation: each module defines ``API`` (see ``_base.Api``): its key, the versions
it serves, a handler and the error answer fault hooks use. ``API_MODULES`` lists them; the
cluster advertises exactly these in ApiVersions and refuses the rest.
"""

from __future__ import annotations

from kproto.testing.fake.apis import (
    add_offsets_to_txn,
    add_partitions_to_txn,
    api_versions,
    create_partitions,
    create_topics,
    delete_groups,
    delete_records,
    delete_topics,
    describe_cluster,
    describe_configs,
    describe_groups,
    end_txn,
    fetch,
    find_coordinator,
    heartbeat,
    incremental_alter_configs,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_fetch,
    offset_for_leader_epoch,
    produce,
    sasl_authenticate,
    sasl_handshake,
    sync_group,
    txn_offset_commit,
)
from kproto.testing.fake.apis._base import Api

API_MODULES: tuple[Api, ...] = (
    produce.API,
    fetch.API,
    list_offsets.API,
    metadata.API,
    offset_commit.API,
    offset_fetch.API,
    find_coordinator.API,
    join_group.API,
    heartbeat.API,
    leave_group.API,
    sync_group.API,
    describe_groups.API,
    list_groups.API,
    sasl_handshake.API,
    api_versions.API,
    create_topics.API,
    delete_topics.API,
    delete_records.API,
    init_producer_id.API,
    offset_for_leader_epoch.API,
    add_partitions_to_txn.API,
    add_offsets_to_txn.API,
    end_txn.API,
    txn_offset_commit.API,
    sasl_authenticate.API,
    delete_groups.API,
    describe_cluster.API,
    describe_configs.API,
    create_partitions.API,
    incremental_alter_configs.API,
)

__all__ = ["API_MODULES", "Api"]
