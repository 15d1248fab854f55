// Assignment vectors written by the Java client's own assignors.
//
// Every case is a group (members with their subscriptions, optional group instance ids) and a
// cluster (topics with partition counts). The program prints, as JSON, what Java's RangeAssignor
// and RoundRobinAssignor assign for it, plus the user data Java's StickyAssignor and
// CooperativeStickyAssignor put in a subscription after an assignment, so that
// tests/group/test_assignor_vectors.py can check that kproto's assignors give exactly the same.
// The committed copy of the output is tests/group/vectors/java_assignors.json.
//
// Run (Java 17, kafka-clients 3.9.2 and slf4j-api on the class path):
//   java -cp "$KPROTO_CACHE/java/*" tests/group/java/AssignorVectors.java > java_assignors.json

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.TreeMap;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;

public class AssignorVectors {
    record Member(String id, String instance, List<String> topics) {}
    record Case(String name, Map<String, Integer> partitions, List<Member> members) {}

    static final Node NODE = new Node(0, "localhost", 9092);

    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    static String hex(ByteBuffer buf) {
        if (buf == null) return "null";
        StringBuilder b = new StringBuilder("\"");
        ByteBuffer d = buf.duplicate();
        while (d.hasRemaining()) b.append(String.format("%02x", d.get()));
        return b.append('"').toString();
    }

    static Cluster cluster(Map<String, Integer> partitions) {
        List<PartitionInfo> infos = new ArrayList<>();
        Node[] nodes = {NODE};
        for (Map.Entry<String, Integer> e : partitions.entrySet())
            for (int p = 0; p < e.getValue(); p++)
                infos.add(new PartitionInfo(e.getKey(), p, NODE, nodes, nodes));
        return new Cluster("vectors", List.of(NODE), infos, new HashSet<>(), new HashSet<>());
    }

    static String assign(ConsumerPartitionAssignor assignor, Case c) {
        Map<String, Subscription> subs = new HashMap<>();
        for (Member m : c.members()) {
            Subscription s = new Subscription(m.topics(), null, List.of(), -1, Optional.empty());
            s.setGroupInstanceId(Optional.ofNullable(m.instance()));
            subs.put(m.id(), s);
        }
        Map<String, Assignment> result =
            assignor.assign(cluster(c.partitions()), new GroupSubscription(subs)).groupAssignment();
        StringBuilder b = new StringBuilder("{");
        boolean first = true;
        for (Member m : c.members()) {
            List<TopicPartition> parts = new ArrayList<>(result.get(m.id()).partitions());
            parts.sort((x, y) -> x.topic().equals(y.topic())
                ? Integer.compare(x.partition(), y.partition()) : x.topic().compareTo(y.topic()));
            b.append(first ? "" : ", ").append(q(m.id())).append(": [");
            first = false;
            for (int i = 0; i < parts.size(); i++)
                b.append(i == 0 ? "" : ", ").append("[").append(q(parts.get(i).topic()))
                 .append(", ").append(parts.get(i).partition()).append("]");
            b.append("]");
        }
        return b.append("}").toString();
    }

    static Case randomCase(Random rnd, int index) {
        Map<String, Integer> partitions = new TreeMap<>();
        int topics = 1 + rnd.nextInt(5);
        List<String> names = new ArrayList<>();
        for (int t = 0; t < topics; t++) {
            String name = (rnd.nextBoolean() ? "T" : "t") + "opic-" + rnd.nextInt(100);
            if (partitions.containsKey(name)) continue;
            partitions.put(name, 1 + rnd.nextInt(12));
            names.add(name);
        }
        // Sometimes a topic some member wants but the metadata lacks.
        if (rnd.nextInt(4) == 0) names.add("missing-topic");
        int count = 1 + rnd.nextInt(7);
        List<Member> members = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            List<String> sub = new ArrayList<>();
            for (String n : names) if (rnd.nextInt(3) != 0) sub.add(n);
            if (sub.isEmpty()) sub.add(names.get(rnd.nextInt(names.size())));
            String id = "consumer-" + (rnd.nextBoolean() ? "A" : "a") + "-" + Integer.toHexString(rnd.nextInt());
            String instance = rnd.nextInt(3) == 0 ? "instance-" + rnd.nextInt(50) + "-" + i : null;
            members.add(new Member(id, instance, sub));
        }
        return new Case("random-" + index, partitions, members);
    }

    public static void main(String[] args) {
        List<Case> cases = new ArrayList<>();
        cases.add(new Case("one-topic-three-members", new TreeMap<>(Map.of("t", 12)), List.of(
            new Member("m-2", null, List.of("t")), new Member("m-1", null, List.of("t")),
            new Member("m-3", null, List.of("t")))));
        cases.add(new Case("uneven-remainder", new TreeMap<>(Map.of("a", 7, "b", 2)), List.of(
            new Member("c3", null, List.of("a", "b")), new Member("c1", null, List.of("a", "b")),
            new Member("c2", null, List.of("a", "b")))));
        cases.add(new Case("more-members-than-partitions", new TreeMap<>(Map.of("x", 2)), List.of(
            new Member("b", null, List.of("x")), new Member("a", null, List.of("x")),
            new Member("c", null, List.of("x")), new Member("d", null, List.of("x")))));
        cases.add(new Case("different-subscriptions", new TreeMap<>(Map.of("t0", 3, "t1", 4, "t2", 5)), List.of(
            new Member("m0", null, List.of("t0")), new Member("m1", null, List.of("t0", "t1")),
            new Member("m2", null, List.of("t0", "t1", "t2")))));
        cases.add(new Case("static-before-dynamic", new TreeMap<>(Map.of("t", 10)), List.of(
            new Member("aaa", null, List.of("t")), new Member("zzz", "instance-b", List.of("t")),
            new Member("mmm", "instance-a", List.of("t")), new Member("bbb", null, List.of("t")))));
        cases.add(new Case("case-sensitive-ids", new TreeMap<>(Map.of("t", 5)), List.of(
            new Member("b", null, List.of("t")), new Member("B", null, List.of("t")),
            new Member("a", null, List.of("t")), new Member("A", null, List.of("t")))));
        // Java orders strings by UTF-16 code units: U+1F600 (D83D DE00) sorts before U+FB01.
        cases.add(new Case("utf16-order", new TreeMap<>(Map.of("t", 4)), List.of(
            new Member("m1", "\ufb01", List.of("t")), new Member("m2", "\ud83d\ude00", List.of("t")),
            new Member("m3", "\u00e9", List.of("t")))));
        cases.add(new Case("topic-order", new TreeMap<>(Map.of("b", 3, "a", 3, "B", 3, "a-1", 2)), List.of(
            new Member("m1", null, List.of("b", "a", "B", "a-1")),
            new Member("m2", null, List.of("a-1", "B")))));
        cases.add(new Case("nobody-wants-a-topic", new TreeMap<>(Map.of("wanted", 4, "unwanted", 4)), List.of(
            new Member("m1", null, List.of("wanted", "absent")), new Member("m2", null, List.of("wanted")))));
        Random rnd = new Random(20240921L);
        for (int i = 0; i < 60; i++) cases.add(randomCase(rnd, i));

        StringBuilder out = new StringBuilder("{\n\"cases\": [\n");
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            out.append("{\"name\": ").append(q(c.name())).append(", \"partitions\": {");
            int j = 0;
            for (Map.Entry<String, Integer> e : c.partitions().entrySet())
                out.append(j++ == 0 ? "" : ", ").append(q(e.getKey())).append(": ").append(e.getValue());
            out.append("}, \"members\": [");
            for (int k = 0; k < c.members().size(); k++) {
                Member m = c.members().get(k);
                out.append(k == 0 ? "" : ", ").append("{\"member_id\": ").append(q(m.id()))
                   .append(", \"group_instance_id\": ").append(m.instance() == null ? "null" : q(m.instance()))
                   .append(", \"topics\": [");
                for (int t = 0; t < m.topics().size(); t++)
                    out.append(t == 0 ? "" : ", ").append(q(m.topics().get(t)));
                out.append("]}");
            }
            out.append("],\n  \"range\": ").append(assign(new RangeAssignor(), c));
            out.append(",\n  \"roundrobin\": ").append(assign(new RoundRobinAssignor(), c));
            out.append("}").append(i + 1 < cases.size() ? ",\n" : "\n");
        }
        out.append("],\n");

        // What the sticky assignors put in the next subscription after an assignment.
        List<TopicPartition> given = List.of(new TopicPartition("orders", 2), new TopicPartition("orders", 0),
            new TopicPartition("audit", 5));
        ConsumerGroupMetadata meta = new ConsumerGroupMetadata("g", 7, "m", Optional.empty());
        StickyAssignor sticky = new StickyAssignor();
        ByteBuffer before = sticky.subscriptionUserData(new HashSet<>(List.of("orders", "audit")));
        sticky.onAssignment(new Assignment(given), meta);
        ByteBuffer after = sticky.subscriptionUserData(new HashSet<>(List.of("orders", "audit")));
        CooperativeStickyAssignor coop = new CooperativeStickyAssignor();
        coop.onAssignment(new Assignment(given), meta);
        ByteBuffer coopData = coop.subscriptionUserData(new HashSet<>(List.of("orders", "audit")));
        out.append("\"user_data\": {\"assigned\": [[\"orders\", 2], [\"orders\", 0], [\"audit\", 5]], \"generation\": 7")
           .append(", \"sticky_before\": ").append(hex(before))
           .append(", \"sticky_after\": ").append(hex(after))
           .append(", \"cooperative_sticky\": ").append(hex(coopData)).append("}\n}\n");
        System.out.print(out);
    }
}
