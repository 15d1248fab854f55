// Golden vectors for kproto's protocol codec, written by the Java client's own serializers.
//
// Each case builds one message with Kafka's generated *Data classes (the same objects the Java
// client sends and receives) and prints the bytes MessageUtil.toByteBuffer produces for one
// version. tests/protocol/test_golden.py builds the same messages with kproto and checks that
// kproto writes exactly these bytes and reads them back to equal objects; the committed copy of
// this program's output is tests/protocol/golden/java_vectors.json.
//
// Run (Java 17, kafka-clients 3.9.2 and slf4j-api on the class path):
//   java -cp "$KPROTO_CACHE/java/*" tests/java/golden/GoldenVectors.java > vectors.json

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.message.ApiVersionsRequestData;
import org.apache.kafka.common.message.ApiVersionsResponseData;
import org.apache.kafka.common.message.ConsumerProtocolSubscription;
import org.apache.kafka.common.message.CreateTopicsRequestData;
import org.apache.kafka.common.message.DescribeConfigsResponseData;
import org.apache.kafka.common.message.FetchRequestData;
import org.apache.kafka.common.message.FetchResponseData;
import org.apache.kafka.common.message.FindCoordinatorRequestData;
import org.apache.kafka.common.message.JoinGroupRequestData;
import org.apache.kafka.common.message.ListOffsetsRequestData;
import org.apache.kafka.common.message.MetadataRequestData;
import org.apache.kafka.common.message.MetadataResponseData;
import org.apache.kafka.common.message.ProduceRequestData;
import org.apache.kafka.common.message.ProduceResponseData;
import org.apache.kafka.common.message.RequestHeaderData;
import org.apache.kafka.common.protocol.Message;
import org.apache.kafka.common.protocol.MessageUtil;
import org.apache.kafka.common.protocol.types.RawTaggedField;
import org.apache.kafka.common.record.MemoryRecords;

public class GoldenVectors {
    static final Uuid TOPIC_ID = new Uuid(0x0123456789abcdefL, 0x0fedcba987654321L);
    static final byte[] RECORDS = "not parsed here: raw record-batch bytes".getBytes(StandardCharsets.UTF_8);

    record Case(String id, String message, int version, Supplier<Message> build) {}

    static final List<Case> CASES = new ArrayList<>();

    static void add(String id, String message, int version, Supplier<Message> build) {
        CASES.add(new Case(id, message, version, build));
    }

    // ---------------------------------------------------------------- ApiVersions

    static ApiVersionsRequestData apiVersionsRequest() {
        return new ApiVersionsRequestData()
            .setClientSoftwareName("kproto")
            .setClientSoftwareVersion("0.1.0");
    }

    static ApiVersionsResponseData apiVersionsResponse() {
        ApiVersionsResponseData data = new ApiVersionsResponseData().setErrorCode((short) 0).setThrottleTimeMs(0);
        data.apiKeys().add(new ApiVersionsResponseData.ApiVersion().setApiKey((short) 0).setMinVersion((short) 0).setMaxVersion((short) 11));
        data.apiKeys().add(new ApiVersionsResponseData.ApiVersion().setApiKey((short) 3).setMinVersion((short) 0).setMaxVersion((short) 12));
        data.apiKeys().add(new ApiVersionsResponseData.ApiVersion().setApiKey((short) 18).setMinVersion((short) 0).setMaxVersion((short) 4));
        return data;
    }

    static ApiVersionsResponseData apiVersionsResponseWithFeatures() {
        ApiVersionsResponseData data = apiVersionsResponse().setThrottleTimeMs(25).setFinalizedFeaturesEpoch(7L);
        data.supportedFeatures().add(new ApiVersionsResponseData.SupportedFeatureKey()
            .setName("metadata.version").setMinVersion((short) 1).setMaxVersion((short) 21));
        data.finalizedFeatures().add(new ApiVersionsResponseData.FinalizedFeatureKey()
            .setName("metadata.version").setMinVersionLevel((short) 1).setMaxVersionLevel((short) 21));
        data.setZkMigrationReady(true);
        return data;
    }

    // ---------------------------------------------------------------- Metadata

    static MetadataRequestData metadataRequest(boolean withIds) {
        MetadataRequestData data = new MetadataRequestData()
            .setAllowAutoTopicCreation(false)
            .setIncludeTopicAuthorizedOperations(withIds);
        data.topics().add(new MetadataRequestData.MetadataRequestTopic().setName("orders"));
        MetadataRequestData.MetadataRequestTopic second = new MetadataRequestData.MetadataRequestTopic().setName("payments");
        if (withIds) {
            second.setTopicId(TOPIC_ID);
        }
        data.topics().add(second);
        return data;
    }

    static MetadataResponseData metadataResponse(boolean withIds, boolean withOperations) {
        MetadataResponseData data = new MetadataResponseData()
            .setThrottleTimeMs(3)
            .setClusterId("kproto-cluster")
            .setControllerId(1);
        data.brokers().add(new MetadataResponseData.MetadataResponseBroker()
            .setNodeId(1).setHost("127.0.0.1").setPort(9092).setRack("rack-a"));
        data.brokers().add(new MetadataResponseData.MetadataResponseBroker()
            .setNodeId(2).setHost("127.0.0.2").setPort(9093).setRack(null));
        MetadataResponseData.MetadataResponseTopic topic = new MetadataResponseData.MetadataResponseTopic()
            .setErrorCode((short) 0)
            .setName("orders")
            .setIsInternal(false)
            .setTopicAuthorizedOperations(withOperations ? 0x0f : Integer.MIN_VALUE);
        if (withIds) {
            topic.setTopicId(TOPIC_ID);
        }
        for (int i = 0; i < 3; i++) {
            topic.partitions().add(new MetadataResponseData.MetadataResponsePartition()
                .setErrorCode((short) 0)
                .setPartitionIndex(i)
                .setLeaderId(1 + i % 2)
                .setLeaderEpoch(5)
                .setReplicaNodes(List.of(1, 2))
                .setIsrNodes(List.of(1 + i % 2))
                .setOfflineReplicas(i == 2 ? List.of(2) : List.of()));
        }
        data.topics().add(topic);
        data.topics().add(new MetadataResponseData.MetadataResponseTopic()
            .setErrorCode((short) 3)
            .setName("missing")
            .setIsInternal(false));
        return data;
    }

    // ---------------------------------------------------------------- Produce

    static ProduceRequestData produceRequest(boolean transactional) {
        ProduceRequestData data = new ProduceRequestData()
            .setAcks((short) -1)
            .setTimeoutMs(30000)
            .setTransactionalId(transactional ? "txn-1" : null);
        ProduceRequestData.TopicProduceData topic = new ProduceRequestData.TopicProduceData().setName("orders");
        topic.partitionData().add(new ProduceRequestData.PartitionProduceData()
            .setIndex(0)
            .setRecords(MemoryRecords.readableRecords(ByteBuffer.wrap(RECORDS))));
        topic.partitionData().add(new ProduceRequestData.PartitionProduceData()
            .setIndex(1)
            .setRecords(null));
        data.topicData().add(topic);
        return data;
    }

    static ProduceResponseData produceResponse(boolean tagged) {
        ProduceResponseData data = new ProduceResponseData().setThrottleTimeMs(10);
        ProduceResponseData.TopicProduceResponse topic = new ProduceResponseData.TopicProduceResponse().setName("orders");
        ProduceResponseData.PartitionProduceResponse ok = new ProduceResponseData.PartitionProduceResponse()
            .setIndex(0).setErrorCode((short) 0).setBaseOffset(1234L).setLogAppendTimeMs(-1L).setLogStartOffset(0L);
        ProduceResponseData.PartitionProduceResponse moved = new ProduceResponseData.PartitionProduceResponse()
            .setIndex(1).setErrorCode((short) 6).setBaseOffset(-1L).setErrorMessage("not the leader");
        moved.recordErrors().add(new ProduceResponseData.BatchIndexAndErrorMessage()
            .setBatchIndex(2).setBatchIndexErrorMessage("bad record"));
        if (tagged) {
            moved.setCurrentLeader(new ProduceResponseData.LeaderIdAndEpoch().setLeaderId(2).setLeaderEpoch(9));
            data.nodeEndpoints().add(new ProduceResponseData.NodeEndpoint()
                .setNodeId(2).setHost("127.0.0.2").setPort(9093).setRack("rack-b"));
        }
        topic.partitionResponses().add(ok);
        topic.partitionResponses().add(moved);
        data.responses().add(topic);
        return data;
    }

    // ---------------------------------------------------------------- Fetch

    static FetchRequestData fetchRequest(boolean withIds) {
        FetchRequestData data = new FetchRequestData()
            .setMaxWaitMs(500)
            .setMinBytes(1)
            .setMaxBytes(52428800)
            .setIsolationLevel((byte) 1)
            .setSessionId(0)
            .setSessionEpoch(-1)
            .setRackId("rack-a");
        FetchRequestData.FetchTopic topic = new FetchRequestData.FetchTopic();
        if (withIds) {
            topic.setTopicId(TOPIC_ID);
            data.setClusterId("kproto-cluster");
        } else {
            topic.setTopic("orders");
        }
        topic.partitions().add(new FetchRequestData.FetchPartition()
            .setPartition(0).setCurrentLeaderEpoch(5).setFetchOffset(100L)
            .setLastFetchedEpoch(-1).setLogStartOffset(-1L).setPartitionMaxBytes(1048576));
        data.topics().add(topic);
        FetchRequestData.ForgottenTopic forgotten = new FetchRequestData.ForgottenTopic().setPartitions(List.of(3, 4));
        if (withIds) {
            forgotten.setTopicId(TOPIC_ID);
        } else {
            forgotten.setTopic("orders");
        }
        data.forgottenTopicsData().add(forgotten);
        return data;
    }

    /** A follower's fetch: the replica state and directory id are tagged fields. */
    static FetchRequestData followerFetchRequest() {
        FetchRequestData data = fetchRequest(true)
            .setReplicaState(new FetchRequestData.ReplicaState().setReplicaId(3).setReplicaEpoch(7L));
        data.topics().get(0).partitions().get(0).setReplicaDirectoryId(TOPIC_ID);
        return data;
    }

    static FetchResponseData fetchResponse(boolean withIds, boolean tagged, int sessionId) {
        FetchResponseData data = new FetchResponseData().setThrottleTimeMs(0).setErrorCode((short) 0).setSessionId(sessionId);
        FetchResponseData.FetchableTopicResponse topic = new FetchResponseData.FetchableTopicResponse();
        if (withIds) {
            topic.setTopicId(TOPIC_ID);
        } else {
            topic.setTopic("orders");
        }
        FetchResponseData.PartitionData p0 = new FetchResponseData.PartitionData()
            .setPartitionIndex(0).setErrorCode((short) 0).setHighWatermark(200L)
            .setLastStableOffset(190L).setLogStartOffset(0L)
            .setPreferredReadReplica(-1)
            .setRecords(MemoryRecords.readableRecords(ByteBuffer.wrap(RECORDS)));
        p0.setAbortedTransactions(new ArrayList<>(List.of(
            new FetchResponseData.AbortedTransaction().setProducerId(42L).setFirstOffset(150L))));
        FetchResponseData.PartitionData p1 = new FetchResponseData.PartitionData()
            .setPartitionIndex(1).setErrorCode((short) 6).setHighWatermark(-1L)
            .setAbortedTransactions(null).setRecords(null);
        if (tagged) {
            p0.setDivergingEpoch(new FetchResponseData.EpochEndOffset().setEpoch(4).setEndOffset(180L));
            p1.setCurrentLeader(new FetchResponseData.LeaderIdAndEpoch().setLeaderId(2).setLeaderEpoch(6));
            p1.setSnapshotId(new FetchResponseData.SnapshotId().setEndOffset(99L).setEpoch(3));
        }
        if (tagged && withIds) {
            data.nodeEndpoints().add(new FetchResponseData.NodeEndpoint()
                .setNodeId(2).setHost("127.0.0.2").setPort(9093).setRack(null));
        }
        topic.partitions().add(p0);
        topic.partitions().add(p1);
        data.responses().add(topic);
        return data;
    }

    // ---------------------------------------------------------------- others

    static ListOffsetsRequestData listOffsetsRequest() {
        ListOffsetsRequestData data = new ListOffsetsRequestData().setReplicaId(-1).setIsolationLevel((byte) 1);
        ListOffsetsRequestData.ListOffsetsTopic topic = new ListOffsetsRequestData.ListOffsetsTopic().setName("orders");
        topic.partitions().add(new ListOffsetsRequestData.ListOffsetsPartition()
            .setPartitionIndex(0).setCurrentLeaderEpoch(5).setTimestamp(-1L));
        topic.partitions().add(new ListOffsetsRequestData.ListOffsetsPartition()
            .setPartitionIndex(1).setTimestamp(-2L));
        data.topics().add(topic);
        return data;
    }

    static FindCoordinatorRequestData findCoordinatorRequest() {
        return new FindCoordinatorRequestData()
            .setKeyType((byte) 0)
            .setCoordinatorKeys(List.of("group-a", "group-b"));
    }

    static JoinGroupRequestData joinGroupRequest() {
        JoinGroupRequestData data = new JoinGroupRequestData()
            .setGroupId("group-a")
            .setSessionTimeoutMs(45000)
            .setRebalanceTimeoutMs(300000)
            .setMemberId("")
            .setGroupInstanceId("instance-1")
            .setProtocolType("consumer")
            .setReason("joining");
        data.protocols().add(new JoinGroupRequestData.JoinGroupRequestProtocol()
            .setName("range").setMetadata(new byte[] {0, 3, 0, 0, 0, 1, 0, 6, 'o', 'r', 'd', 'e', 'r', 's'}));
        return data;
    }

    static DescribeConfigsResponseData describeConfigsResponse() {
        DescribeConfigsResponseData data = new DescribeConfigsResponseData().setThrottleTimeMs(0);
        DescribeConfigsResponseData.DescribeConfigsResult result = new DescribeConfigsResponseData.DescribeConfigsResult()
            .setErrorCode((short) 0).setErrorMessage(null).setResourceType((byte) 2).setResourceName("orders");
        result.configs().add(new DescribeConfigsResponseData.DescribeConfigsResourceResult()
            .setName("retention.ms").setValue("604800000").setReadOnly(false)
            .setConfigSource((byte) 5).setIsSensitive(false).setConfigType((byte) 5)
            .setDocumentation("How long to keep a log segment")
            .setSynonyms(List.of(new DescribeConfigsResponseData.DescribeConfigsSynonym()
                .setName("log.retention.ms").setValue(null).setSource((byte) 5))));
        result.configs().add(new DescribeConfigsResponseData.DescribeConfigsResourceResult()
            .setName("sasl.jaas.config").setValue(null).setReadOnly(true)
            .setConfigSource((byte) 4).setIsSensitive(true).setDocumentation(null));
        data.results().add(result);
        return data;
    }

    static CreateTopicsRequestData createTopicsRequest() {
        CreateTopicsRequestData data = new CreateTopicsRequestData().setTimeoutMs(30000).setValidateOnly(false);
        CreateTopicsRequestData.CreatableTopic topic = new CreateTopicsRequestData.CreatableTopic()
            .setName("orders").setNumPartitions(-1).setReplicationFactor((short) -1);
        topic.assignments().add(new CreateTopicsRequestData.CreatableReplicaAssignment()
            .setPartitionIndex(0).setBrokerIds(List.of(1, 2)));
        topic.configs().add(new CreateTopicsRequestData.CreatableTopicConfig()
            .setName("cleanup.policy").setValue("compact"));
        topic.configs().add(new CreateTopicsRequestData.CreatableTopicConfig()
            .setName("segment.bytes").setValue(null));
        data.topics().add(topic);
        return data;
    }

    static ConsumerProtocolSubscription subscription() {
        ConsumerProtocolSubscription data = new ConsumerProtocolSubscription()
            .setTopics(List.of("orders", "payments"))
            .setUserData(ByteBuffer.wrap(new byte[] {1, 2, 3}))
            .setGenerationId(4)
            .setRackId("rack-a");
        data.ownedPartitions().add(new ConsumerProtocolSubscription.TopicPartition()
            .setTopic("orders").setPartitions(List.of(0, 2)));
        return data;
    }

    static RequestHeaderData requestHeader() {
        return new RequestHeaderData()
            .setRequestApiKey((short) 3)
            .setRequestApiVersion((short) 12)
            .setCorrelationId(42)
            .setClientId("kproto-client");
    }

    /** Tags kproto does not know must survive a decode/encode round trip untouched. */
    static <T extends Message> T withUnknownTags(T message) {
        message.unknownTaggedFields().add(new RawTaggedField(7, new byte[] {1, 2, 3}));
        message.unknownTaggedFields().add(new RawTaggedField(200, new byte[] {}));
        return message;
    }

    static {
        add("api_versions_request_v0", "ApiVersionsRequest", 0, () -> new ApiVersionsRequestData());
        add("api_versions_request_v3", "ApiVersionsRequest", 3, GoldenVectors::apiVersionsRequest);
        add("api_versions_response_v0", "ApiVersionsResponse", 0, GoldenVectors::apiVersionsResponse);
        add("api_versions_response_v3", "ApiVersionsResponse", 3, GoldenVectors::apiVersionsResponseWithFeatures);
        add("metadata_request_v4", "MetadataRequest", 4, () -> metadataRequest(false));
        add("metadata_request_v12", "MetadataRequest", 12, () -> metadataRequest(true));
        add("metadata_response_v1", "MetadataResponse", 1, () -> metadataResponse(false, false));
        add("metadata_response_v8", "MetadataResponse", 8, () -> metadataResponse(false, true));
        add("metadata_response_v12", "MetadataResponse", 12, () -> metadataResponse(true, true));
        add("produce_request_v3", "ProduceRequest", 3, () -> produceRequest(true));
        add("produce_request_v9", "ProduceRequest", 9, () -> produceRequest(false));
        add("produce_response_v7", "ProduceResponse", 7, () -> produceResponse(false));
        add("produce_response_v8", "ProduceResponse", 8, () -> produceResponse(false));
        add("produce_response_v10", "ProduceResponse", 10, () -> produceResponse(true));
        add("fetch_request_v4", "FetchRequest", 4, () -> fetchRequest(false).setRackId("").setForgottenTopicsData(new ArrayList<>()));
        add("fetch_request_v11", "FetchRequest", 11, () -> fetchRequest(false));
        add("fetch_request_v13", "FetchRequest", 13, () -> fetchRequest(true));
        add("fetch_request_v17", "FetchRequest", 17, GoldenVectors::followerFetchRequest);
        add("fetch_response_v4", "FetchResponse", 4, () -> fetchResponse(false, false, 0));
        add("fetch_response_v11", "FetchResponse", 11, () -> fetchResponse(false, false, 77));
        add("fetch_response_v12", "FetchResponse", 12, () -> fetchResponse(false, true, 77));
        add("fetch_response_v16", "FetchResponse", 16, () -> fetchResponse(true, true, 77));
        add("list_offsets_request_v9", "ListOffsetsRequest", 9, GoldenVectors::listOffsetsRequest);
        add("find_coordinator_request_v4", "FindCoordinatorRequest", 4, GoldenVectors::findCoordinatorRequest);
        add("join_group_request_v9", "JoinGroupRequest", 9, GoldenVectors::joinGroupRequest);
        add("describe_configs_response_v1", "DescribeConfigsResponse", 1, GoldenVectors::describeConfigsResponse);
        add("describe_configs_response_v4", "DescribeConfigsResponse", 4, GoldenVectors::describeConfigsResponse);
        add("create_topics_request_v7", "CreateTopicsRequest", 7, GoldenVectors::createTopicsRequest);
        add("consumer_subscription_v3", "ConsumerProtocolSubscription", 3, GoldenVectors::subscription);
        add("request_header_v1", "RequestHeader", 1, GoldenVectors::requestHeader);
        add("request_header_v2", "RequestHeader", 2, GoldenVectors::requestHeader);
        add("metadata_request_v12_unknown_tags", "MetadataRequest", 12, () -> withUnknownTags(metadataRequest(true)));
        add("api_versions_response_v3_unknown_tags", "ApiVersionsResponse", 3,
            () -> withUnknownTags(apiVersionsResponseWithFeatures()));
    }

    static String hex(ByteBuffer buffer) {
        StringBuilder out = new StringBuilder();
        while (buffer.hasRemaining()) {
            out.append(String.format("%02x", buffer.get() & 0xff));
        }
        return out.toString();
    }

    public static void main(String[] args) {
        try {
            run();
        } catch (RuntimeException e) {
            // The source launcher cannot print some stack traces itself.
            e.printStackTrace();
            System.exit(1);
        }
    }

    static void run() {
        StringBuilder json = new StringBuilder("{\n  \"generator\": \"tests/java/golden/GoldenVectors.java\",\n");
        json.append("  \"kafka_clients\": \"").append(org.apache.kafka.common.utils.AppInfoParser.getVersion()).append("\",\n");
        json.append("  \"vectors\": [\n");
        for (int i = 0; i < CASES.size(); i++) {
            Case c = CASES.get(i);
            Message message = c.build().get();
            String actualName = message.getClass().getSimpleName();
            if (!actualName.equals(c.message()) && !actualName.equals(c.message() + "Data")) {
                throw new IllegalStateException(c.id() + ": built " + actualName + ", expected " + c.message());
            }
            String bytes = hex(MessageUtil.toByteBuffer(message, (short) c.version()));
            json.append("    {\"id\": \"").append(c.id())
                .append("\", \"message\": \"").append(c.message())
                .append("\", \"version\": ").append(c.version())
                .append(", \"hex\": \"").append(bytes).append("\"}")
                .append(i + 1 < CASES.size() ? ",\n" : "\n");
        }
        json.append("  ]\n}\n");
        System.out.print(json);
    }
}
