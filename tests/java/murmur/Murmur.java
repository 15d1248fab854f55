// Prints the Java client's key hashing for a fixed list of keys, as test vectors for
// kproto's default partitioner.
//
// Run with the kafka-clients jar (and slf4j-api, which its Utils class loads) on the class path:
//   java -cp kafka-clients-3.9.2.jar:slf4j-api-1.7.36.jar Murmur.java 1 2 3 < keys.txt
// The arguments are partition counts. Standard input holds one key per line written as
// "k:" followed by the key's bytes in hex ("k:" alone is the empty key). Output is tab
// separated: key hex, Utils.murmur2(key), Utils.toPositive of it, then
// Utils.toPositive(Utils.murmur2(key)) % n for every partition count n.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

import org.apache.kafka.common.utils.Utils;

public class Murmur {
    public static void main(String[] args) throws Exception {
        int[] counts = new int[args.length];
        for (int i = 0; i < args.length; i++) {
            counts[i] = Integer.parseInt(args[i]);
        }
        StringBuilder header = new StringBuilder("key\tmurmur2\tpositive");
        for (int n : counts) {
            header.append("\tn=").append(n);
        }
        System.out.println(header);

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        HexFormat hex = HexFormat.of();
        String line;
        while ((line = in.readLine()) != null) {
            if (!line.startsWith("k:")) {
                continue;
            }
            String keyHex = line.substring(2);
            byte[] key = hex.parseHex(keyHex);
            int hash = Utils.murmur2(key);
            int positive = Utils.toPositive(hash);
            StringBuilder row = new StringBuilder(keyHex);
            row.append('\t').append(hash).append('\t').append(positive);
            for (int n : counts) {
                row.append('\t').append(positive % n);
            }
            System.out.println(row);
        }
    }
}
