"""Kafka error codes the fake cluster answers with, named as in Kafka's ``Errors`` enum.

Theory of operation: plain ints (they go straight into response fields), each taken from the
generated error class in :mod:`kproto.errors` so that the codes have one home. No state.
"""

from __future__ import annotations

from typing import Final

from kproto import errors as e

NONE: Final = 0
UNKNOWN_SERVER_ERROR: Final = e.UnknownServerError.code
OFFSET_OUT_OF_RANGE: Final = e.OffsetOutOfRangeError.code
CORRUPT_MESSAGE: Final = e.CorruptMessageError.code
UNKNOWN_TOPIC_OR_PARTITION: Final = e.UnknownTopicOrPartitionError.code
LEADER_NOT_AVAILABLE: Final = e.LeaderNotAvailableError.code
NOT_LEADER_OR_FOLLOWER: Final = e.NotLeaderOrFollowerError.code
REQUEST_TIMED_OUT: Final = e.RequestTimedOutError.code
MESSAGE_TOO_LARGE: Final = e.MessageTooLargeError.code
OFFSET_METADATA_TOO_LARGE: Final = e.OffsetMetadataTooLargeError.code
COORDINATOR_LOAD_IN_PROGRESS: Final = e.CoordinatorLoadInProgressError.code
COORDINATOR_NOT_AVAILABLE: Final = e.CoordinatorNotAvailableError.code
NOT_COORDINATOR: Final = e.NotCoordinatorError.code
INVALID_TOPIC_EXCEPTION: Final = e.InvalidTopicError.code
NOT_ENOUGH_REPLICAS: Final = e.NotEnoughReplicasError.code
INVALID_REQUIRED_ACKS: Final = e.InvalidRequiredAcksError.code
ILLEGAL_GENERATION: Final = e.IllegalGenerationError.code
INCONSISTENT_GROUP_PROTOCOL: Final = e.InconsistentGroupProtocolError.code
INVALID_GROUP_ID: Final = e.InvalidGroupIdError.code
UNKNOWN_MEMBER_ID: Final = e.UnknownMemberIdError.code
INVALID_SESSION_TIMEOUT: Final = e.InvalidSessionTimeoutError.code
REBALANCE_IN_PROGRESS: Final = e.RebalanceInProgressError.code
UNSUPPORTED_SASL_MECHANISM: Final = e.UnsupportedSaslMechanismError.code
ILLEGAL_SASL_STATE: Final = e.IllegalSaslStateError.code
UNSUPPORTED_VERSION: Final = e.UnsupportedVersionError.code
TOPIC_ALREADY_EXISTS: Final = e.TopicAlreadyExistsError.code
INVALID_PARTITIONS: Final = e.InvalidPartitionsError.code
INVALID_REPLICATION_FACTOR: Final = e.InvalidReplicationFactorError.code
INVALID_REPLICA_ASSIGNMENT: Final = e.InvalidReplicaAssignmentError.code
INVALID_CONFIG: Final = e.InvalidConfigError.code
INVALID_REQUEST: Final = e.InvalidRequestError.code
OUT_OF_ORDER_SEQUENCE_NUMBER: Final = e.OutOfOrderSequenceNumberError.code
INVALID_PRODUCER_EPOCH: Final = e.InvalidProducerEpochError.code
INVALID_TXN_STATE: Final = e.InvalidTxnStateError.code
INVALID_PRODUCER_ID_MAPPING: Final = e.InvalidProducerIdMappingError.code
INVALID_TRANSACTION_TIMEOUT: Final = e.InvalidTransactionTimeoutError.code
CONCURRENT_TRANSACTIONS: Final = e.ConcurrentTransactionsError.code
OPERATION_NOT_ATTEMPTED: Final = e.OperationNotAttemptedError.code
SASL_AUTHENTICATION_FAILED: Final = e.SaslAuthenticationFailedError.code
NON_EMPTY_GROUP: Final = e.NonEmptyGroupError.code
GROUP_ID_NOT_FOUND: Final = e.GroupIdNotFoundError.code
FETCH_SESSION_ID_NOT_FOUND: Final = e.FetchSessionIdNotFoundError.code
INVALID_FETCH_SESSION_EPOCH: Final = e.InvalidFetchSessionEpochError.code
FENCED_LEADER_EPOCH: Final = e.FencedLeaderEpochError.code
UNKNOWN_LEADER_EPOCH: Final = e.UnknownLeaderEpochError.code
MEMBER_ID_REQUIRED: Final = e.MemberIdRequiredError.code
GROUP_MAX_SIZE_REACHED: Final = e.GroupMaxSizeReachedError.code
FENCED_INSTANCE_ID: Final = e.FencedInstanceIdError.code
INVALID_RECORD: Final = e.InvalidRecordError.code
PRODUCER_FENCED: Final = e.ProducerFencedError.code
RESOURCE_NOT_FOUND: Final = e.ResourceNotFoundError.code
UNKNOWN_TOPIC_ID: Final = e.UnknownTopicIdError.code
FETCH_SESSION_TOPIC_ID_ERROR: Final = e.FetchSessionTopicIdError.code
UNSTABLE_OFFSET_COMMIT: Final = e.UnstableOffsetCommitError.code
UNSUPPORTED_COMPRESSION_TYPE: Final = e.UnsupportedCompressionTypeError.code
SECURITY_DISABLED: Final = e.SecurityDisabledError.code
GROUP_SUBSCRIBED_TO_TOPIC: Final = e.GroupSubscribedToTopicError.code
ELECTION_NOT_NEEDED: Final = e.ElectionNotNeededError.code
PREFERRED_LEADER_NOT_AVAILABLE: Final = e.PreferredLeaderNotAvailableError.code
ELIGIBLE_LEADERS_NOT_AVAILABLE: Final = e.EligibleLeadersNotAvailableError.code
NO_REASSIGNMENT_IN_PROGRESS: Final = e.NoReassignmentInProgressError.code
TRANSACTIONAL_ID_NOT_FOUND: Final = e.TransactionalIdNotFoundError.code
