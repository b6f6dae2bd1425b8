package readapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/domain"
)

// cursor is a position in a sorted set: the (score, member) of the last
// item a page returned. Sorted sets order by (score, member), so the next
// page starts strictly after it whatever was added or removed meanwhile:
// no item present throughout is skipped or repeated.
type cursor struct {
	List   string  // the list it belongs to (a cursor of one list is refused by another)
	Score  float64 // unused by lexicographic lists
	Member string
}

// encodeCursor returns the opaque text form of c.
func encodeCursor(c cursor) string {
	raw := "1|" + c.List + "|" + strconv.FormatFloat(c.Score, 'g', -1, 64) + "|" + c.Member
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

var errCursor = errors.New("not a cursor of this list (pass nextCursor of the previous page unchanged)")

// decodeCursor parses a cursor of list.
func decodeCursor(s, list string) (cursor, error) {
	if len(s) > 2048 {
		return cursor{}, errCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, errCursor
	}
	f := strings.SplitN(string(raw), "|", 4)
	if len(f) != 4 || f[0] != "1" || f[1] != list || f[3] == "" {
		return cursor{}, errCursor
	}
	sc, err := strconv.ParseFloat(f[2], 64)
	if err != nil || sc != sc { // NaN
		return cursor{}, errCursor
	}
	return cursor{List: list, Score: sc, Member: f[3]}, nil
}

// once returns the value of the single-valued query parameter name (ok
// false when it is absent). A parameter given more than once is a field
// error appended to bad: which of the values was meant is not for the API
// to guess. The queries use it through request.query, the audit endpoints
// directly.
func once(c *gin.Context, name string, bad *[]domain.FieldError) (string, bool) {
	vs, ok := c.GetQueryArray(name)
	if !ok || len(vs) == 0 {
		return "", false
	}
	if len(vs) > 1 {
		*bad = append(*bad, domain.FieldError{Field: name, Message: "must be given once (it was given " + strconv.Itoa(len(vs)) + " times)"})
		return "", false
	}
	return vs[0], true
}

// query is once for the request's parameters and its list of bad ones.
func (r *request) query(name string) (string, bool) {
	return once(r.c, name, &r.errs)
}

// parseLimit reads ?limit= (1–MaxLimit, default DefaultLimit).
func (r *request) parseLimit() int {
	v, ok := r.query("limit")
	if !ok {
		return DefaultLimit
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		r.bad("limit", "must be an integer from 1 to "+strconv.Itoa(MaxLimit))
		return DefaultLimit
	}
	return n
}

// parseCursor reads ?cursor= of list (nil when absent). list names the
// list with every parameter that chooses which items it holds or their
// order (the customer of a timeline, the year and currency of a ranking),
// so that a cursor of another list is refused.
func (r *request) parseCursor(list string) *cursor {
	v, ok := r.query("cursor")
	if !ok || v == "" {
		return nil
	}
	c, err := decodeCursor(v, list)
	if err != nil {
		r.bad("cursor", err.Error())
		return nil
	}
	return &c
}

// parseID reads the :id path parameter, a UUID.
func (r *request) parseID() string {
	id, err := uuid.Parse(r.c.Param("id"))
	if err != nil {
		r.bad("id", "must be a UUID")
		return ""
	}
	return id.String()
}

// enum reads an optional query parameter that must be one of allowed.
func (r *request) enum(name string, allowed ...string) string {
	v, _ := r.query(name)
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.bad(name, "must be one of "+strings.Join(allowed, ", "))
	return ""
}

// text reads an optional free-text query parameter (at most max bytes).
func (r *request) text(name string, max int) string {
	v, _ := r.query(name)
	v = strings.TrimSpace(v)
	if len(v) > max {
		r.bad(name, "must be at most "+strconv.Itoa(max)+" bytes")
		return ""
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		r.bad(name, "must not contain control characters")
		return ""
	}
	return v
}

// zlist reads a sorted set in order, page by page.
type zlist struct {
	rdb  redis.Cmdable
	key  string // full key
	desc bool   // highest score first
	lex  bool   // all scores equal: order by member (ZRANGE BYLEX)

	// withDocs: GET each member's document in the same round trip, at
	// docPrefix + the member (after its first docSep, when docSep is set).
	withDocs  bool
	docPrefix string
	docSep    string
}

// rangeGetLua runs one ZRANGE and GETs each member's document. ARGV: key,
// mode (rank, score or lex), rev (0/1), start, stop, offset, count, doc
// prefix, separator. Reply: member, score, document (false if absent)...
const rangeGetLua = `
local mode = ARGV[2]
local args = {ARGV[1], ARGV[4], ARGV[5]}
if mode == 'score' then args[#args + 1] = 'BYSCORE' elseif mode == 'lex' then args[#args + 1] = 'BYLEX' end
if ARGV[3] == '1' then args[#args + 1] = 'REV' end
if mode ~= 'rank' then
  args[#args + 1] = 'LIMIT'
  args[#args + 1] = ARGV[6]
  args[#args + 1] = ARGV[7]
end
local step = 1
if mode ~= 'lex' then
  args[#args + 1] = 'WITHSCORES'
  step = 2
end
local r = redis.call('ZRANGE', unpack(args))
if #r == 0 then return {} end
local keys = {}
local sep = ARGV[9]
for i = 1, #r, step do
  local id = r[i]
  if sep ~= '' then
    local p = string.find(id, sep, 1, true)
    if p then id = string.sub(id, p + #sep) end
  end
  keys[#keys + 1] = ARGV[8] .. id
end
local docs = redis.call('MGET', unpack(keys))
local out = {}
for i = 1, #r, step do
  out[#out + 1] = r[i]
  if step == 2 then out[#out + 1] = r[i + 1] else out[#out + 1] = '0' end
  out[#out + 1] = docs[(i + step - 1) / step]
end
return out
`

var rangeGetScript = redis.NewScript(rangeGetLua)

// rangeGet is ZRANGE (args) plus a GET of each member's document.
func (z zlist) rangeGet(ctx context.Context, args redis.ZRangeArgs) ([]redis.Z, []*string, error) {
	mode := "rank"
	switch {
	case args.ByScore:
		mode = "score"
	case args.ByLex:
		mode = "lex"
	}
	rev := "0"
	if args.Rev {
		rev = "1"
	}
	res, err := rangeGetScript.Run(ctx, z.rdb, []string{args.Key}, args.Key, mode, rev, args.Start, args.Stop,
		args.Offset, args.Count, z.docPrefix, z.docSep).Slice()
	if err != nil && err != redis.Nil {
		return nil, nil, err
	}
	zs := make([]redis.Z, 0, len(res)/3)
	docs := make([]*string, 0, len(res)/3)
	for i := 0; i+2 < len(res); i += 3 {
		m, _ := res[i].(string)
		sc, _ := res[i+1].(string)
		f, err := strconv.ParseFloat(sc, 64)
		if err != nil {
			return nil, nil, fmt.Errorf("readapi: score %q of %s: %w", sc, args.Key, err)
		}
		zs = append(zs, redis.Z{Member: m, Score: f})
		if d, ok := res[i+2].(string); ok {
			docs = append(docs, &d)
		} else {
			docs = append(docs, nil)
		}
	}
	return zs, docs, nil
}

// zrange runs args, with the documents when z.withDocs.
func (z zlist) zrange(ctx context.Context, args redis.ZRangeArgs) ([]redis.Z, []*string, error) {
	if z.withDocs {
		return z.rangeGet(ctx, args)
	}
	if args.ByLex {
		ms, err := z.rdb.ZRangeArgs(ctx, args).Result()
		if err != nil {
			return nil, nil, err
		}
		out := make([]redis.Z, len(ms))
		for i, m := range ms {
			out[i] = redis.Z{Member: m}
		}
		return out, nil, nil
	}
	zs, err := z.rdb.ZRangeArgsWithScores(ctx, args).Result()
	return zs, nil, err
}

// after returns up to n members strictly after cur (from the start when
// cur is nil), in the list's order, with their documents when z.withDocs
// (else docs is nil).
func (z zlist) after(ctx context.Context, cur *cursor, n int) ([]redis.Z, []*string, error) {
	if z.lex {
		start := "-"
		if cur != nil {
			start = "(" + cur.Member
		}
		return z.zrange(ctx, redis.ZRangeArgs{Key: z.key, Start: start, Stop: "+", ByLex: true, Count: int64(n)})
	}
	if cur == nil {
		return z.zrange(ctx, redis.ZRangeArgs{Key: z.key, Start: 0, Stop: n - 1, Rev: z.desc})
	}
	from := strconv.FormatFloat(cur.Score, 'g', -1, 64)
	args := redis.ZRangeArgs{Key: z.key, Start: from, Stop: "+inf", ByScore: true, Count: int64(n)}
	if z.desc {
		args.Start, args.Stop, args.Rev = from, "-inf", true
	}
	var out []redis.Z
	var outDocs []*string
	for len(out) < n {
		zs, docs, err := z.zrange(ctx, args)
		if err != nil {
			return nil, nil, err
		}
		for i, m := range zs {
			member, _ := m.Member.(string)
			if m.Score == cur.Score && (!z.desc && member <= cur.Member || z.desc && member >= cur.Member) {
				continue // at or before the cursor among equal scores
			}
			out = append(out, m)
			if docs != nil {
				outDocs = append(outDocs, docs[i])
			}
		}
		if len(zs) < int(args.Count) {
			break
		}
		args.Offset += int64(len(zs))
	}
	if len(out) > n {
		out = out[:n]
		if outDocs != nil {
			outDocs = outDocs[:n]
		}
	}
	if z.withDocs && outDocs == nil {
		outDocs = []*string{}
	}
	return out, outDocs, nil
}

// keepFunc loads a batch of members (docs: their documents when the list
// fetched them, else nil) and returns, for each, the item to return (nil
// = filtered out).
type keepFunc func(ctx context.Context, zs []redis.Z, docs []*string) ([]json.RawMessage, error)

// maxScan bounds the members one filtered page inspects; a page that
// finds fewer matches within it ends early with a nextCursor.
const maxScan = 5000

// page collects up to limit items from z after cur. keep loads a batch
// of members and returns, for each, the item to return (nil = filtered
// out). It returns the items and the cursor of the next page (nil on the
// last page).
func page(ctx context.Context, z zlist, list string, cur *cursor, limit int,
	keep keepFunc) ([]json.RawMessage, *cursor, error) {
	items := make([]json.RawMessage, 0, limit)
	var lastOf []redis.Z // members of the returned items, for the cursor
	scanned := 0
	batch := limit + 1
	for {
		zs, docs, err := z.after(ctx, cur, batch)
		if err != nil {
			return nil, nil, err
		}
		kept, err := keep(ctx, zs, docs)
		if err != nil {
			return nil, nil, err
		}
		for i, it := range kept {
			if it == nil {
				continue
			}
			if len(items) == limit { // one more exists: this page is full
				next := toCursor(list, lastOf[len(lastOf)-1])
				return items, &next, nil
			}
			items = append(items, it)
			lastOf = append(lastOf, zs[i])
		}
		scanned += len(zs)
		if len(zs) < batch {
			return items, nil, nil
		}
		last := toCursor(list, zs[len(zs)-1])
		cur = &last
		if scanned >= maxScan {
			if len(items) > 0 && len(items) == limit {
				next := toCursor(list, lastOf[len(lastOf)-1])
				return items, &next, nil
			}
			return items, cur, nil
		}
		batch = min(max(2*batch, 64), 1000)
	}
}

func toCursor(list string, z redis.Z) cursor {
	m, _ := z.Member.(string)
	return cursor{List: list, Score: z.Score, Member: m}
}

// listBody renders {items, nextCursor}.
func listBody(items []json.RawMessage, next *cursor, extra ...string) []byte {
	n := 32
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, `],"nextCursor":`...)
	if next == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendQuote(b, encodeCursor(*next))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		b = append(b, ',')
		b = strconv.AppendQuote(b, extra[i])
		b = append(b, ':')
		b = append(b, extra[i+1]...)
	}
	return append(b, '}')
}
