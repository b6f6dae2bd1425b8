package eventstore

import (
	"strconv"

	"github.com/google/uuid"
)

// eventIDNamespace is the project's fixed UUIDv5 namespace for event ids.
var eventIDNamespace = uuid.UUID{0xbd, 0x3b, 0x90, 0x13, 0x2b, 0x18, 0x5a, 0x27, 0xbc, 0x02, 0x86, 0x86, 0x80, 0xe2, 0x83, 0xa5}

// EventIDNamespace returns the project's fixed UUIDv5 namespace for event
// ids, bd3b9013-2b18-5a27-bc02-868680e283a5, which is itself
// UUIDv5(NameSpaceURL, "https://github.com/crm-es/crm/eventstore/event-id").
// It must never change: that would break the deduplication of commands
// retried across a deployment.
func EventIDNamespace() uuid.UUID { return eventIDNamespace }

// EventID returns the deterministic id of the index-th event (0-based)
// produced by the command identified by idempotencyKey:
//
//	UUIDv5(EventIDNamespace(), idempotencyKey + ":" + decimal(index))
//
// The name is unambiguous because the index, the part after the last ':',
// never contains ':'. Retrying a command with the same key produces the same
// ids, which lets the event store recognise the retry as a duplicate.
func EventID(idempotencyKey string, index int) uuid.UUID {
	name := make([]byte, 0, len(idempotencyKey)+1+20)
	name = append(name, idempotencyKey...)
	name = append(name, ':')
	name = strconv.AppendInt(name, int64(index), 10)
	return uuid.NewSHA1(eventIDNamespace, name)
}
