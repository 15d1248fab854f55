// Command partitioners prints sarama's partitioner choices as test vectors for kproto.
//
// Usage (run from this directory):
//
//	go run . hash 1 2 3 < keys.txt   key hashing partitioners; arguments are partition counts
//	go run . consistency             which partitioners ask for all partitions, per key kind
//	go run . round-robin 5 5 3 ...   round robin choices for a sequence of partition counts
//
// Keys on standard input are one per line, "k:" followed by the key bytes in hex.
// Output is tab separated with a header line.
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/fnv"
	"os"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
)

type named struct {
	name string
	make sarama.PartitionerConstructor
}

func crcIEEE() hash.Hash32 { return crc32.NewIEEE() }
func fnv1() hash.Hash32    { return fnv.New32() }

var hashing = []named{
	{"hash", sarama.NewHashPartitioner},
	{"reference-hash", sarama.NewReferenceHashPartitioner},
	{"consistent-crc", sarama.NewConsistentCRCHashPartitioner},
	{"murmur2", sarama.NewMurmur2Partitioner},
	{"custom-crc32", sarama.NewCustomHashPartitioner(crcIEEE)},
	{"custom-fnv1", sarama.NewCustomHashPartitioner(fnv1)},
	{"custom-crc32-abs-first", sarama.NewCustomPartitioner(
		sarama.WithAbsFirst(), sarama.WithCustomHashFunction(crcIEEE))},
	{"custom-fnv1-unsigned", sarama.NewCustomPartitioner(
		sarama.WithHashUnsigned(), sarama.WithCustomHashFunction(fnv1))},
}

var all = append([]named{
	{"manual", sarama.NewManualPartitioner},
	{"random", sarama.NewRandomPartitioner},
	{"round-robin", sarama.NewRoundRobinPartitioner},
}, hashing...)

func counts(args []string) []int32 {
	out := make([]int32, 0, len(args))
	for _, a := range args {
		n, err := strconv.ParseInt(a, 10, 32)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bad partition count %q\n", a)
			os.Exit(2)
		}
		out = append(out, int32(n))
	}
	return out
}

func readKeys() [][]byte {
	var keys [][]byte
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<24)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "k:") {
			continue
		}
		key, err := hex.DecodeString(line[2:])
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad key line %q: %v\n", line, err)
			os.Exit(2)
		}
		keys = append(keys, key)
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	return keys
}

func printHash(ns []int32) {
	keys := readKeys()
	header := []string{"partitioner", "key"}
	for _, n := range ns {
		header = append(header, fmt.Sprintf("n=%d", n))
	}
	fmt.Println(strings.Join(header, "\t"))
	for _, p := range hashing {
		part := p.make("t")
		for _, key := range keys {
			row := []string{p.name, hex.EncodeToString(key)}
			msg := &sarama.ProducerMessage{Topic: "t", Key: sarama.ByteEncoder(key)}
			for _, n := range ns {
				choice, err := part.Partition(msg, n)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				row = append(row, strconv.Itoa(int(choice)))
			}
			fmt.Println(strings.Join(row, "\t"))
		}
	}
}

func printConsistency() {
	fmt.Println("partitioner\trequires_consistency\tnull_key\tempty_key\tkey")
	for _, p := range all {
		part := p.make("t")
		row := []string{p.name, strconv.FormatBool(part.RequiresConsistency())}
		dyn, ok := part.(sarama.DynamicConsistencyPartitioner)
		for _, key := range []sarama.Encoder{nil, sarama.ByteEncoder{}, sarama.ByteEncoder("k")} {
			if !ok {
				row = append(row, "-")
				continue
			}
			msg := &sarama.ProducerMessage{Topic: "t", Key: key}
			row = append(row, strconv.FormatBool(dyn.MessageRequiresConsistency(msg)))
		}
		fmt.Println(strings.Join(row, "\t"))
	}
}

func printRoundRobin(ns []int32) {
	fmt.Println("n\tpartition")
	part := sarama.NewRoundRobinPartitioner("t")
	msg := &sarama.ProducerMessage{Topic: "t"}
	for _, n := range ns {
		choice, err := part.Partition(msg, n)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%d\t%d\n", n, choice)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: partitioners hash|consistency|round-robin [counts...]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "hash":
		printHash(counts(os.Args[2:]))
	case "consistency":
		printConsistency()
	case "round-robin":
		printRoundRobin(counts(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}
