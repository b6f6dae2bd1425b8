package server_test

// Crash safety (DESIGN §3): an append is acknowledged only once durable, a
// crash at any point loses no acknowledged event and never exposes a partial
// batch. TestCrashSafety re-executes this test binary as a child process
// (TestCrashChild) that serves the data directory and appends from many
// goroutines, printing every acknowledged append; the parent SIGKILLs it at a
// random moment, reopens the directory and checks the log, 24 times over.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/crm-es/crm/eventstore/server"
)

const (
	crashDirEnv   = "CRM_ES_CRASH_CHILD_DIR"
	crashAddrEnv  = "CRM_ES_CRASH_CHILD_ADDR"
	crashRoundEnv = "CRM_ES_CRASH_CHILD_ROUND"
	crashRounds   = 24
)

// crashData is the JSON data of every event written by the crash test: it
// names the batch so that all-or-nothing can be checked for batches whose
// acknowledgement was lost in the crash too.
type crashData struct {
	Batch string `json:"b"`
	I     int    `json:"i"`
	N     int    `json:"n"`
	Pad   string `json:"pad,omitempty"`
}

func crashBatch(n, pad int) []esdb.EventData {
	b := uuid.NewString()
	evs := make([]esdb.EventData, n)
	for i := range evs {
		d, _ := json.Marshal(crashData{Batch: b, I: i, N: n, Pad: strings.Repeat("x", pad)})
		evs[i] = esdb.EventData{EventID: uuid.New(), EventType: "Crash", ContentType: esdb.ContentTypeJson, Data: d}
	}
	return evs
}

// TestCrashChild is the child process of TestCrashSafety; it is skipped
// unless the parent sets the environment.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashSafety")
	}
	var outMu sync.Mutex
	printf := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...) + "\n"
		outMu.Lock()
		defer outMu.Unlock()
		_, _ = os.Stdout.WriteString(line) // one write per line (atomic below PIPE_BUF)
	}
	srv, err := server.Start(server.Config{Dir: dir}, os.Getenv(crashAddrEnv))
	if err != nil {
		printf("ERR server.Start: %s", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(3)
	}
	cfg, err := esdb.ParseConnectionString(srv.ConnectionString())
	if err != nil {
		printf("ERR %v", err)
		os.Exit(3)
	}
	cfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(cfg)
	if err != nil {
		printf("ERR %v", err)
		os.Exit(3)
	}
	round := os.Getenv(crashRoundEnv)
	shared := []string{"crash-shared-0", "crash-shared-1", "crash-shared-2"}
	ctx := context.Background()
	printf("READY")
	for w := 0; w < 8; w++ {
		go func(w int) {
			rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			own := fmt.Sprintf("crash-r%s-w%d", round, w)
			ownRev := int64(-1)
			for {
				var stream string
				var exp esdb.ExpectedRevision = esdb.Any{}
				var evs []esdb.EventData
				switch k := rnd.IntN(10); {
				case k < 5:
					stream = shared[rnd.IntN(len(shared))]
					evs = crashBatch(1+rnd.IntN(6), 40)
				case k < 9:
					stream = own
					exp = esdb.NoStream{}
					if ownRev >= 0 {
						exp = esdb.Revision(uint64(ownRev))
					}
					evs = crashBatch(1+rnd.IntN(4), 40)
				default: // a large batch: more chances to be torn mid-record
					stream = "crash-big"
					evs = crashBatch(10+rnd.IntN(20), 1500)
				}
				res, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, evs...)
				if err != nil {
					printf("FAIL append to %s with %s: %v", stream, expString(exp), err)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				if stream == own {
					ownRev = int64(res.NextExpectedVersion)
				}
				ids := make([]string, len(evs))
				for i, e := range evs {
					ids[i] = e.EventID.String()
				}
				printf("ACK %s %d %d %s", stream, res.NextExpectedVersion, res.CommitPosition, strings.Join(ids, ","))
				// Pace the writers a little: the data volume (and so the
				// verification time) stays modest on fast disks.
				time.Sleep(time.Duration(rnd.IntN(8)) * time.Millisecond)
			}
		}(w)
	}
	time.Sleep(30 * time.Second) // the parent kills us long before
	os.Exit(0)
}

type crashAck struct {
	round  int
	stream string
	rev    uint64 // last revision of the batch
	pos    uint64 // position of the last event
	ids    []uuid.UUID
}

func parseAck(line string) (crashAck, error) {
	f := strings.Fields(line)
	if len(f) != 5 || f[0] != "ACK" {
		return crashAck{}, fmt.Errorf("malformed ack line %q", line)
	}
	rev, err1 := strconv.ParseUint(f[2], 10, 64)
	pos, err2 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return crashAck{}, fmt.Errorf("malformed ack line %q", line)
	}
	a := crashAck{stream: f[1], rev: rev, pos: pos}
	for _, s := range strings.Split(f[4], ",") {
		id, err := uuid.Parse(s)
		if err != nil {
			return crashAck{}, fmt.Errorf("malformed id in %q", line)
		}
		a.ids = append(a.ids, id)
	}
	return a, nil
}

// runCrashChild starts the child, waits until it serves (unless early),
// SIGKILLs it after a random delay and returns its acknowledged appends.
func runCrashChild(t *testing.T, dir, addr string, round int, early bool, rnd *rand.Rand) (acks []crashAck, ready bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashAddrEnv+"="+addr, crashRoundEnv+"="+strconv.Itoa(round))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	readyCh := make(chan struct{})
	done := make(chan struct{})
	var problems []string
	go func() {
		defer close(done)
		br := bufio.NewReaderSize(stdout, 1<<16)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return // EOF; a partial last line (no '\n') is ignored
			}
			line = strings.TrimSuffix(line, "\n")
			switch {
			case line == "READY":
				close(readyCh)
			case strings.HasPrefix(line, "ACK "):
				a, err := parseAck(line)
				if err != nil {
					problems = append(problems, err.Error())
					continue
				}
				a.round = round
				acks = append(acks, a)
			case strings.HasPrefix(line, "ERR ") || strings.HasPrefix(line, "FAIL "):
				problems = append(problems, line)
			}
		}
	}()
	exited := make(chan error, 1)
	if early {
		time.Sleep(time.Duration(20+rnd.IntN(130)) * time.Millisecond)
	} else {
		select {
		case <-readyCh:
			ready = true
			time.Sleep(time.Duration(50+rnd.IntN(351)) * time.Millisecond)
		case <-done:
			_ = cmd.Wait()
			t.Fatalf("round %d: child exited before serving: %v\nstderr: %s", round, problems, stderr.String())
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("round %d: child not ready within 20s\nstderr: %s", round, stderr.String())
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	// Read everything the child wrote before Wait closes the pipe.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("round %d: killed child's stdout not closed", round)
	}
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("round %d: killed child did not exit", round)
	}
	select {
	case <-readyCh:
		ready = true
	default:
	}
	if len(problems) > 0 {
		t.Fatalf("round %d: child reported: %s", round, strings.Join(problems, "\n"))
	}
	return acks, ready
}

// TestCrashSafety: 24 rounds of child start → concurrent appends → SIGKILL
// at a random moment (50–400 ms after it serves; every 6th round 20–150 ms
// after exec, i.e. around start-up and recovery) → reopen the same directory and verify:
// every acknowledged event present with its acknowledged revision and
// position, every batch all-or-nothing and contiguous, $all strictly
// increasing without duplicates, streams dense, nothing seen after an earlier
// recovery ever changes or disappears, and new appends work (positions never
// reused).
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var acks []crashAck
	seen := map[uuid.UUID]rec{}
	totalAcks, readyRounds := 0, 0
	start := time.Now()
	for round := 0; round < crashRounds; round++ {
		early := round%6 == 5
		got, ready := runCrashChild(t, dir, addr, round, early, rnd)
		if ready {
			readyRounds++
		}
		totalAcks += len(got)
		acks = append(acks, got...)
		acks = append(acks, verifyCrashDir(t, dir, round, acks, seen))
	}
	t.Logf("%d rounds (%d killed while serving) in %v; %d appends acknowledged by children; %d events in the log",
		crashRounds, readyRounds, time.Since(start).Round(time.Millisecond), totalAcks, len(seen))
	if totalAcks == 0 {
		t.Fatalf("no append was acknowledged in %d rounds: the test exercised nothing", crashRounds)
	}
}

// verifyCrashDir opens dir in-process and checks it; it returns the ack of
// the verification append it makes.
func verifyCrashDir(t *testing.T, dir string, round int, acks []crashAck, seen map[uuid.UUID]rec) crashAck {
	t.Helper()
	srv, stop := startServer(t, server.Config{Dir: dir})
	defer stop()
	c := newClient(t, srv)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("round %d: "+format, append([]any{round}, args...)...)
	}

	all := fullAll(t, ctx, c)
	for i := 1; i < len(all); i++ {
		if all[i].Pos <= all[i-1].Pos {
			fail("$all positions not strictly increasing at %d: %v then %v", i, all[i-1], all[i])
		}
	}
	index := make(map[uuid.UUID]int, len(all))
	byStream := map[string][]rec{}
	batches := map[string][]int{}
	for i, r := range all {
		if _, dup := index[r.ID]; dup {
			fail("event id %s twice in $all", r.ID)
		}
		index[r.ID] = i
		if strings.HasPrefix(r.Stream, "$") {
			continue
		}
		byStream[r.Stream] = append(byStream[r.Stream], r)
		var d crashData
		if err := json.Unmarshal([]byte(r.Data), &d); err != nil || d.Batch == "" {
			fail("event %v has undecodable data %q: %v", r, r.Data, err)
		}
		if len(batches[d.Batch]) != d.I {
			fail("batch %s: event %d of %d (%v) out of order or after a gap", d.Batch, d.I, d.N, r)
		}
		batches[d.Batch] = append(batches[d.Batch], i)
	}
	// Batches: all-or-nothing, contiguous in $all, consecutive revisions.
	for b, idx := range batches {
		var d crashData
		_ = json.Unmarshal([]byte(all[idx[0]].Data), &d)
		if len(idx) != d.N {
			fail("partial batch %s: %d of %d events visible: %v", b, len(idx), d.N, idx)
		}
		for k := 1; k < len(idx); k++ {
			if idx[k] != idx[0]+k || all[idx[k]].Stream != all[idx[0]].Stream || all[idx[k]].Rev != all[idx[0]].Rev+uint64(k) {
				fail("batch %s not contiguous: %v then %v", b, all[idx[k-1]], all[idx[k]])
			}
		}
	}
	// Streams are dense and read the same as $all.
	for s, want := range byStream {
		for i, r := range want {
			if r.Rev != uint64(i) {
				fail("stream %s not dense: index %d is %v", s, i, r)
			}
		}
		got := mustReadStream(t, ctx, c, s, esdb.ReadStreamOptions{}, 1<<40)
		if !slices.Equal(want, got) {
			d := diffRecs(want, got)
			fail("stream %s read differs from $all (-$all +stream):\n%s", s, d)
		}
	}
	// Every acknowledged event, with its acknowledged revision and position.
	for _, a := range acks {
		for k, id := range a.ids {
			i, ok := index[id]
			if !ok {
				fail("acknowledged event %s (batch of %d to %s, acked in round %d as revision %d position %d) is lost",
					id, len(a.ids), a.stream, a.round, a.rev, a.pos)
			}
			r := all[i]
			wantRev := a.rev - uint64(len(a.ids)-1-k)
			if r.Stream != a.stream || r.Rev != wantRev {
				fail("acknowledged event %s is %v, acked as %s@%d (round %d)", id, r, a.stream, wantRev, a.round)
			}
			if k == len(a.ids)-1 && r.Pos != a.pos {
				fail("acknowledged event %s has position %d, acked %d (round %d)", id, r.Pos, a.pos, a.round)
			}
		}
	}
	// Whatever a previous recovery exposed is durable and unchanged.
	for id, old := range seen {
		i, ok := index[id]
		if !ok {
			fail("event %v visible after an earlier recovery has disappeared", old)
		}
		if all[i] != old {
			fail("event changed across recoveries: was %v, now %v", old, all[i])
		}
	}
	for _, r := range all {
		seen[r.ID] = r
	}
	// New appends work and get fresh positions.
	evs := crashBatch(3, 10)
	res := mustAppend(t, ctx, c, "crash-verify", esdb.Any{}, evs...)
	if len(all) > 0 && res.CommitPosition <= all[len(all)-1].Pos {
		fail("new append position %d not after the recovered head %d", res.CommitPosition, all[len(all)-1].Pos)
	}
	back := mustReadStream(t, ctx, c, "crash-verify", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 3)
	if len(back) != 3 || back[0].ID != evs[2].EventID || back[0].Pos != res.CommitPosition {
		fail("new append not readable: %v", back)
	}
	return crashAck{round: round, stream: "crash-verify", rev: res.NextExpectedVersion, pos: res.CommitPosition, ids: idsOf(evs)}
}

// TestRestartPreservesState: a clean restart on the same directory keeps
// everything observable: $all and stream reads, metadata, soft-deleted and
// tombstoned streams, link resolution, and the idempotency of earlier writes
// (a retry after a restart reports the original revision and position, spec
// §11); new positions are never reused.
func TestRestartPreservesState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEnv(t, server.Config{Dir: dir})
	ctx, c := e.ctx, e.client

	kept, soft, hard := streamName("kept"), streamName("soft"), streamName("hard")
	batch := numberedEvents(3, "Kept")
	first := mustAppend(t, ctx, c, kept, esdb.NoStream{}, batch...)
	mustAppend(t, ctx, c, kept, esdb.Any{}, numberedEvents(2, "Kept")...)
	var meta esdb.StreamMetadata
	meta.SetMaxCount(4)
	meta.AddCustomProperty("owner", "crm")
	if _, err := c.SetStreamMetadata(ctx, kept, esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, ctx, c, soft, esdb.NoStream{}, numberedEvents(2, "Soft")...)
	if _, err := c.DeleteStream(ctx, soft, esdb.DeleteStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, ctx, c, hard, esdb.NoStream{}, numberedEvents(2, "Hard")...)
	if _, err := c.TombstoneStream(ctx, hard, esdb.TombstoneStreamOptions{}); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, ctx, c, "links", esdb.Any{},
		esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("4@" + kept)})

	type snapshot struct {
		All      []rec
		Kept     []rec
		Links    []rec
		LinkTo   rec
		Meta     string
		SoftCode esdb.ErrorCode
		HardCode esdb.ErrorCode
	}
	snap := func(t *testing.T, e *env) snapshot {
		t.Helper()
		var s snapshot
		s.All = fullAll(t, e.ctx, e.client)
		s.Kept = mustReadStream(t, e.ctx, e.client, kept, esdb.ReadStreamOptions{}, 100)
		links, err := readStream(e.ctx, e.client, "links", esdb.ReadStreamOptions{ResolveLinkTos: true}, 10)
		if err != nil || len(links) != 1 {
			t.Fatalf("read links: %d, %v", len(links), err)
		}
		s.Links, s.LinkTo = recsOf(links), toRec(links[0].Event)
		m, err := e.client.GetStreamMetadata(e.ctx, kept, esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatalf("GetStreamMetadata: %v", err)
		}
		b, _ := m.ToJson()
		s.Meta = string(b)
		_, err = readStream(e.ctx, e.client, soft, esdb.ReadStreamOptions{}, 10)
		s.SoftCode = requireCode(t, err, esdb.ErrorCodeResourceNotFound, "read soft-deleted").Code()
		_, err = readStream(e.ctx, e.client, hard, esdb.ReadStreamOptions{}, 10)
		s.HardCode = requireCode(t, err, esdb.ErrorCodeStreamDeleted, "read tombstoned").Code()
		return s
	}
	before := snap(t, e)
	if len(before.Kept) != 4 || before.LinkTo.Rev != 4 {
		t.Fatalf("unexpected state before restart: %+v", before)
	}
	e.stop()

	e2 := newEnv(t, server.Config{Dir: dir})
	after := snap(t, e2)
	if d := cmp.Diff(before, after, cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("state changed across a restart (-before +after):\n%s", d)
	}
	retry := mustAppend(t, e2.ctx, e2.client, kept, esdb.NoStream{}, batch...)
	if d := cmp.Diff(first, retry); d != "" {
		t.Errorf("retry after restart must be idempotent with the original result (-orig +retry):\n%s", d)
	}
	retryAny := mustAppend(t, e2.ctx, e2.client, kept, esdb.Any{}, batch...)
	if d := cmp.Diff(first, retryAny); d != "" {
		t.Errorf("any-retry after restart must be idempotent (-orig +retry):\n%s", d)
	}
	_, err := e2.client.AppendToStream(e2.ctx, hard, esdb.AppendToStreamOptions{}, jsonEvent("X", `{}`))
	requireCode(t, err, esdb.ErrorCodeStreamDeleted, "append to tombstoned stream after restart")
	res := mustAppend(t, e2.ctx, e2.client, soft, esdb.Any{}, jsonEvent("Recreated", `{}`))
	if res.NextExpectedVersion != 2 || res.CommitPosition <= before.All[len(before.All)-1].Pos {
		t.Errorf("recreate after restart: rev %d pos %d, want rev 2 and a fresh position > %d", res.NextExpectedVersion, res.CommitPosition, before.All[len(before.All)-1].Pos)
	}
}
