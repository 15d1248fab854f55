// Writes transactions with the Java client for kproto's read_committed tests.
// Usage: TxnProducer <bootstrap> <topic> <transactional id> <rounds>
// Round r writes five records "<word>-r-i" to partition 0 in one transaction; the word is
// "abort" (and the transaction aborted) when r % 3 == 1, else "commit". A plain record
// "plain-r" goes to the partition between transactions.
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public class TxnProducer {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String txnId = args[2];
        int rounds = Integer.parseInt(args[3]);
        Properties tx = new Properties();
        tx.put("bootstrap.servers", bootstrap);
        tx.put("transactional.id", txnId);
        tx.put("key.serializer", StringSerializer.class.getName());
        tx.put("value.serializer", StringSerializer.class.getName());
        Properties plain = new Properties();
        plain.put("bootstrap.servers", bootstrap);
        plain.put("key.serializer", StringSerializer.class.getName());
        plain.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(tx);
             KafkaProducer<String, String> other = new KafkaProducer<>(plain)) {
            producer.initTransactions();
            for (int r = 0; r < rounds; r++) {
                boolean commit = r % 3 != 1;
                producer.beginTransaction();
                for (int i = 0; i < 5; i++) {
                    String value = (commit ? "commit-" : "abort-") + r + "-" + i;
                    producer.send(new ProducerRecord<>(topic, 0, null, value));
                }
                producer.flush();
                if (commit) {
                    producer.commitTransaction();
                } else {
                    producer.abortTransaction();
                }
                other.send(new ProducerRecord<>(topic, 0, null, "plain-" + r)).get();
            }
        }
    }
}
