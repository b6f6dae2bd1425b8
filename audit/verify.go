package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/google/uuid"

	"github.com/crm-es/crm/domain"
	"github.com/crm-es/crm/eventstore"
)

// Break is the first link of a stream's hash chain that does not hold.
type Break struct {
	Stream   string   `json:"stream"`
	Revision uint64   `json:"revision"`
	Position Position `json:"position"`
	EventID  string   `json:"eventId"`
	// Check names what failed: "metadata" (the envelope does not decode),
	// "revision" (not the revision after the previous event), "prevHash"
	// (not the previous event's hash; the genesis hash at revision 0) or
	// "hash" (the stored hash is not the SHA-256 of the stored event).
	Check    string `json:"check"`
	Expected string `json:"expected"`
	Found    string `json:"found"`
	Reason   string `json:"reason"`
}

// Chain checks a stream's hash chain one event at a time, in revision
// order, with the rules of eventstore.VerifyChain (which it mirrors, adding
// the expected and found values). The zero Chain is ready.
type Chain struct {
	n        int
	prevRev  uint64
	prevHash string
	stream   string
}

// Events returns how many events Add accepted.
func (c *Chain) Events() int { return c.n }

// LastHash returns the hash of the last event accepted.
func (c *Chain) LastHash() string { return c.prevHash }

// Add checks the next event; it returns nil while the chain holds, else the
// break (and the chain should not be fed further).
func (c *Chain) Add(r eventstore.Recorded) *Break {
	b := func(check, expected, found, reason string) *Break {
		return &Break{Stream: r.Stream, Revision: r.Revision, Position: Position(r.Position), EventID: r.EventID.String(),
			Check: check, Expected: expected, Found: found, Reason: reason}
	}
	if r.MetadataErr != nil {
		return b("metadata", "the JSON envelope of eventstore.Metadata", string(r.RawMetadata), r.MetadataErr.Error())
	}
	meta := r.Metadata
	switch {
	case c.n == 0 && r.Revision == 0:
		if meta.PrevHash != eventstore.GenesisHash {
			return b("prevHash", eventstore.GenesisHash, meta.PrevHash, "the first event of a stream must chain from the genesis hash")
		}
	case c.n > 0:
		if r.Stream != c.stream || r.Revision != c.prevRev+1 {
			return b("revision", c.stream+"@"+strconv.FormatUint(c.prevRev+1, 10), r.Stream+"@"+strconv.FormatUint(r.Revision, 10),
				"events must follow each other without gaps")
		}
		if meta.PrevHash != c.prevHash {
			return b("prevHash", c.prevHash, meta.PrevHash, "prevHash is not the hash of the previous event")
		}
	}
	want, err := eventstore.ComputeHash(r.Stream, r.Type, r.EventID, r.Data, meta)
	if err != nil {
		return b("prevHash", "64 lower-case hex characters", meta.PrevHash, err.Error())
	}
	if meta.Hash != want {
		return b("hash", want, meta.Hash, "the stored hash is not the hash of the stored event (data, type, id or metadata changed)")
	}
	c.n++
	c.prevRev, c.prevHash, c.stream = r.Revision, meta.Hash, r.Stream
	return nil
}

// StreamReport is the outcome of verifying one stream.
type StreamReport struct {
	Stream string `json:"stream"`
	// Events is the number of events checked (up to and including the
	// break, if any).
	Events int  `json:"events"`
	OK     bool `json:"ok"`
	// LastRevision and LastHash describe the end of the verified chain
	// (absent when broken), so an auditor can note them and later prove
	// that nothing before them was rewritten.
	LastRevision *uint64 `json:"lastRevision,omitempty"`
	LastHash     string  `json:"lastHash,omitempty"`
	FirstBreak   *Break  `json:"firstBreak,omitempty"`
}

// VerifyStream walks a stream's hash chain page by page. A stream without
// events is a KindNotFound error.
func (l *Log) VerifyStream(ctx context.Context, stream string) (StreamReport, error) {
	rep := StreamReport{Stream: stream}
	var c Chain
	var next uint64
	for {
		page, err := readRecords(ctx, l.src, stream, next, uint64(l.pageSize))
		if errors.Is(err, errStreamNotFound) {
			break
		}
		if errors.Is(err, eventstore.ErrStreamDeleted) {
			return rep, domain.Errorf(domain.KindNotFound, "stream %s is deleted", stream)
		}
		if err != nil {
			return rep, unavailable(err)
		}
		for _, r := range page {
			rep.Events++
			if br := c.Add(r); br != nil {
				rep.FirstBreak = br
				return rep, nil
			}
			next = r.Revision + 1
		}
		if len(page) < l.pageSize {
			break
		}
	}
	if rep.Events == 0 {
		return rep, domain.Errorf(domain.KindNotFound, "no stream %s in the event log", stream)
	}
	rep.OK = true
	last := c.prevRev
	rep.LastRevision, rep.LastHash = &last, c.LastHash()
	return rep, nil
}

// CustomerReport is the outcome of verifying every stream of a customer.
type CustomerReport struct {
	CustomerID uuid.UUID      `json:"customerId"`
	OK         bool           `json:"ok"`
	Streams    []StreamReport `json:"streams"`
	// FirstBreak is the first break in the order of Streams, if any.
	FirstBreak *Break `json:"firstBreak,omitempty"`
}

// VerifyCustomer verifies the hash chain of every stream of the customer's
// history (found as History finds them: the link stream, then $all).
func (l *Log) VerifyCustomer(ctx context.Context, cid uuid.UUID) (CustomerReport, error) {
	streams, err := l.Streams(ctx, cid)
	if err != nil {
		return CustomerReport{}, err
	}
	rep := CustomerReport{CustomerID: cid, OK: true, Streams: make([]StreamReport, 0, len(streams))}
	for _, s := range streams {
		sr, err := l.VerifyStream(ctx, s)
		if err != nil {
			return CustomerReport{}, err
		}
		rep.Streams = append(rep.Streams, sr)
		if !sr.OK {
			rep.OK = false
			if rep.FirstBreak == nil {
				rep.FirstBreak = sr.FirstBreak
			}
		}
	}
	return rep, nil
}

// Recorded turns an audit event (e.g. a line of an export) back into the
// stored form, so its hash chain can be checked or it can be written to
// another store.
func (e Event) Recorded() (eventstore.Recorded, error) {
	r := eventstore.Recorded{Stream: e.Stream, Revision: e.Revision, Position: uint64(e.Position), EventID: e.EventID,
		Type: e.Type, RecordedAt: e.RecordedAt}
	switch e.DataEncoding {
	case "":
		r.JSON, r.Data = true, []byte(e.Data)
	case "base64":
		var s string
		if err := json.Unmarshal(e.Data, &s); err != nil {
			return r, fmt.Errorf("data: %v", err)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return r, fmt.Errorf("data: %v", err)
		}
		r.Data = b
	default:
		return r, fmt.Errorf("dataEncoding %q: want \"\" or \"base64\"", e.DataEncoding)
	}
	r.RawMetadata = []byte(e.Metadata)
	r.Metadata, r.MetadataErr = eventstore.DecodeMetadata(r.RawMetadata)
	return r, nil
}

// VerifyNDJSON checks the hash chains of the events of an export (NDJSON,
// one Event per line, as Export and crm export write them), offline: per
// stream, each event must follow the previous one and chain from its hash;
// a stream whose first exported event is not revision 0 (an export limited
// by time) chains from that event's prevHash as given. It returns one
// report per stream, in order of first appearance. A line that is not an
// audit event is an error naming its line number; memory grows with the
// number of streams, not of events.
func VerifyNDJSON(r io.Reader) ([]StreamReport, error) {
	type state struct {
		chain Chain
		rep   *StreamReport
	}
	var (
		order  []*StreamReport
		states = map[string]*state{}
	)
	done := func() []StreamReport {
		out := make([]StreamReport, len(order))
		for i, r := range order {
			out[i] = *r
			if !r.OK {
				out[i].LastRevision, out[i].LastHash = nil, ""
			}
		}
		return out
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			return done(), fmt.Errorf("line %d: not an audit event: %v", line, err)
		}
		if e.Stream == "" || e.Type == "" {
			return done(), fmt.Errorf("line %d: not an audit event: stream and type are required", line)
		}
		rec, err := e.Recorded()
		if err != nil {
			return done(), fmt.Errorf("line %d: %v", line, err)
		}
		st := states[e.Stream]
		if st == nil {
			st = &state{rep: &StreamReport{Stream: e.Stream, OK: true}}
			states[e.Stream] = st
			order = append(order, st.rep)
		}
		if !st.rep.OK {
			continue
		}
		st.rep.Events++
		if br := st.chain.Add(rec); br != nil {
			st.rep.OK, st.rep.FirstBreak = false, br
			continue
		}
		last := rec.Revision
		st.rep.LastRevision, st.rep.LastHash = &last, st.chain.LastHash()
	}
	if err := sc.Err(); err != nil {
		return done(), err
	}
	return done(), nil
}
