package topic

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	eventpipev1alpha1 "github.com/eventpipe/eventpipe/api/v1alpha1"
)

// enumValues are the values Kafka accepts for the configs that take a word.
var enumValues = map[string][]string{
	"cleanup.policy":         {"delete", "compact", "compact,delete", "delete,compact"},
	"compression.type":       {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
	"message.timestamp.type": {"CreateTime", "LogAppendTime"},
}

// integerMinimums are the configs that take a whole number, with the least value
// Kafka accepts (-1 means "no limit" where Kafka allows it).
var integerMinimums = map[string]int64{
	"delete.retention.ms":   0,
	"max.compaction.lag.ms": 1,
	"max.message.bytes":     0,
	"min.compaction.lag.ms": 0,
	"min.insync.replicas":   1,
	"retention.bytes":       -1,
	"segment.bytes":         1024 * 1024,
	"segment.ms":            1,
}

// ValidateConfig checks one entry of spec.config. The API server already
// refuses keys outside the allow-list; this check keeps the controller safe
// when that validation is missing and catches values Kafka would refuse, with a
// message that names the key.
func ValidateConfig(key, value string) error {
	if !slices.Contains(eventpipev1alpha1.AllowedTopicConfigKeys, key) {
		if key == RetentionKey {
			return fmt.Errorf("config key %s is not allowed: use spec.retention", key)
		}
		return fmt.Errorf("config key %s is not allowed; allowed keys are %s",
			key, strings.Join(eventpipev1alpha1.AllowedTopicConfigKeys, ", "))
	}
	value = strings.TrimSpace(value)
	if allowed, ok := enumValues[key]; ok {
		if !slices.Contains(allowed, value) {
			return fmt.Errorf("config %s=%q is not valid; use one of %s",
				key, value, strings.Join(allowed, ", "))
		}
		return nil
	}
	if minimum, ok := integerMinimums[key]; ok {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return fmt.Errorf("config %s=%q is not a whole number", key, value)
		}
		if n < minimum {
			return fmt.Errorf("config %s=%d is below the minimum of %d", key, n, minimum)
		}
		return nil
	}
	if key == "min.cleanable.dirty.ratio" {
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || f < 0 || f > 1 {
			return fmt.Errorf("config %s=%q must be a number between 0 and 1", key, value)
		}
	}
	return nil
}
