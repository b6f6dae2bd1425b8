package readapi_test

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
)

// TestServiceQueueOpenOldestFirst: status=open lists every request not
// archived (created, assigned, handled, reopened), and order=oldest pages
// the queue first come, first served; a cursor of the newest-first list is
// refused there.
func TestServiceQueueOpenOldestFirst(t *testing.T) {
	e := newEnv(t)
	cid, _ := e.register("admin", "Queue Customer", "sales", nil)
	open := func(title string) string {
		return e.cmd(http.MethodPost, "/v1/service-requests", "admin", map[string]any{
			"customerId": cid, "type": "complaint", "title": title, "request": "r"}).str("id")
	}
	created, assigned, handled, archived, reopened := open("created"), open("assigned"), open("handled"), open("archived"), open("reopened")
	e.cmd(http.MethodPost, "/v1/service-requests/"+assigned+"/assign", "admin", map[string]any{"assigneeId": "service"})
	for _, id := range []string{handled, archived, reopened} {
		e.cmd(http.MethodPost, "/v1/service-requests/"+id+"/assign", "admin", map[string]any{"assigneeId": "service"})
		e.cmd(http.MethodPost, "/v1/service-requests/"+id+"/handle", "admin", map[string]any{"handling": "done"})
	}
	e.cmd(http.MethodPost, "/v1/service-requests/"+archived+"/feedback", "admin", map[string]any{"result": "fine", "satisfaction": 5})
	last := e.cmd(http.MethodPost, "/v1/service-requests/"+reopened+"/feedback", "admin", map[string]any{"result": "still bad", "satisfaction": 1})

	ids := func(r reply) []string {
		var out []string
		for _, it := range r.items() {
			out = append(out, it["id"].(string))
		}
		return out
	}
	// Newest first by openedAt (ties: id descending), as every list.
	all := ids(e.fresh("/v1/service-requests?limit=200", "admin", last))
	if len(all) != 5 {
		t.Fatalf("all requests: %v", all)
	}
	wantOpen := slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == archived })
	if diff := gocmp.Diff(wantOpen, ids(e.get("/v1/service-requests?status=open&limit=200", "admin"))); diff != "" {
		t.Errorf("status=open (-want +got):\n%s", diff)
	}
	for _, id := range []string{created, assigned, handled, reopened} {
		if !slices.Contains(wantOpen, id) {
			t.Fatalf("%s missing from the open queue %v", id, wantOpen)
		}
	}
	oldest := slices.Clone(wantOpen)
	slices.Reverse(oldest)
	if diff := gocmp.Diff(oldest, ids(e.get("/v1/service-requests?status=open&order=oldest&limit=200", "admin"))); diff != "" {
		t.Errorf("status=open&order=oldest (-want +got):\n%s", diff)
	}
	// Paged oldest first, one at a time.
	paged, _ := e.pageAll("/v1/service-requests?status=open&order=oldest&limit=1", "admin", "id", func() {})
	if diff := gocmp.Diff(oldest, paged); diff != "" {
		t.Errorf("paged oldest first (-want +got):\n%s", diff)
	}
	newest := e.get("/v1/service-requests?status=open&limit=1", "admin").str("nextCursor")
	wantProblem(t, e.get("/v1/service-requests?status=open&order=oldest&limit=1&cursor="+url.QueryEscape(newest), "admin"), "cursor")
	wantProblem(t, e.get("/v1/service-requests?order=sideways", "admin"), "order")
}
