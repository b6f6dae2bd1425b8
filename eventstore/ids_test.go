package eventstore_test

import (
	"testing"

	"github.com/crm-es/crm/eventstore"
	"github.com/google/uuid"
)

func TestEventIDNamespaceDerivation(t *testing.T) {
	want := uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/crm-es/crm/eventstore/event-id"))
	if got := eventstore.EventIDNamespace(); got != want {
		t.Fatalf("namespace = %s, want %s", got, want)
	}
}

func TestEventID(t *testing.T) {
	tests := []struct {
		key   string
		index int
		want  string // pinned: changing these breaks deduplication of retries
	}{
		{"cmd-1", 0, uuid.NewSHA1(eventstore.EventIDNamespace(), []byte("cmd-1:0")).String()},
		{"3b4f5e2a-1111-4222-8333-944455556666", 2, "60f44e48-5044-5201-83e7-f098d5f78693"},
		{"", 0, uuid.NewSHA1(eventstore.EventIDNamespace(), []byte(":0")).String()},
	}
	for _, tt := range tests {
		got := eventstore.EventID(tt.key, tt.index)
		if got.String() != tt.want {
			t.Errorf("EventID(%q, %d) = %s, want %s", tt.key, tt.index, got, tt.want)
		}
		if got.Version() != 5 || got.Variant() != uuid.RFC4122 {
			t.Errorf("EventID(%q, %d) = %s is not an RFC 4122 UUIDv5", tt.key, tt.index, got)
		}
		if again := eventstore.EventID(tt.key, tt.index); again != got {
			t.Errorf("EventID not deterministic")
		}
	}
}

func TestEventIDDistinct(t *testing.T) {
	seen := map[uuid.UUID]string{}
	for _, key := range []string{"a", "a:1", "a:", "b", "1", ""} {
		for i := 0; i < 12; i++ {
			id := eventstore.EventID(key, i)
			name := key + "#" + string(rune('a'+i))
			if prev, dup := seen[id]; dup {
				t.Fatalf("EventID collision: %s and %s", prev, name)
			}
			seen[id] = name
		}
	}
}
