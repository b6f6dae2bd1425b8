package eventcodec

import (
	"testing"

	"github.com/crm-es/crm/domain"
)

// TestNew: every domain event type is registered under its stored name and
// schema version, and exactly the hot types have fast decoders (their
// equality with encoding/json is tested in domain and commands).
func TestNew(t *testing.T) {
	c := New()
	fast := map[string]bool{domain.TypeOrderPlaced: true, domain.TypeOrderCancelled: true,
		domain.TypeOrderReturned: true, domain.TypeCustomerRegistered: true}
	types := domain.EventTypes()
	if len(c.Types()) != len(types) {
		t.Fatalf("%d types registered, domain has %d", len(c.Types()), len(types))
	}
	for _, et := range types {
		v, ok := c.SchemaVersion(et.Name)
		if !ok || v != et.SchemaVersion {
			t.Errorf("%s: schema version %d, %v; want %d", et.Name, v, ok, et.SchemaVersion)
		}
		if got := c.HasFastDecoder(et.Name); got != fast[et.Name] {
			t.Errorf("%s: fast decoder %v, want %v", et.Name, got, fast[et.Name])
		}
	}
}
