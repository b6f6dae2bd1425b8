package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/crm-es/crm/eventstore"
)

// ActiveRead asks ReadActive for one projection's served generation, its
// committed checkpoint and the string values of some of its keys.
type ActiveRead struct {
	// Name is the projection; "" reads Keys as absolute keys (data kept
	// outside the generations, such as the churn risk documents).
	Name string
	// Keys are relative keys of the projection (without the generation
	// prefix) to GET in the same round trip.
	Keys []string
	// ZCards are relative keys of sorted sets whose cardinality to read
	// in the same round trip.
	ZCards []string
}

// ActiveState is what ReadActive found for one projection.
type ActiveState struct {
	Name string
	// Gen is the served generation ("" while none has been built: then
	// Prefix is "" and Values are all absent).
	Gen        string
	Prefix     string
	Checkpoint eventstore.Checkpoint // of the served generation (zero before its first commit)
	// Values holds the value of each requested key (nil = absent).
	Values []*string
	// Cards holds the cardinality of each requested sorted set.
	Cards []int64
}

// readActiveLua resolves, for each projection named in ARGV, the alias,
// the generation's checkpoint and the requested keys, atomically (so the
// values and the checkpoint belong to the same commit). ARGV: per
// projection: name, number of keys, keys... Reply: per projection: gen
// (false when none), checkpoint (false when none), then one value per key.
//
// It reads keys it was not given in KEYS (the generation is only known
// inside): fine on a single Redis node with replicas, which is what the
// deployment uses (DESIGN §10), not on Redis Cluster.
const readActiveLua = `
local out = {}
local i = 1
while i <= #ARGV do
  local name, n, z = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local keys = i + 3
  local gen = false
  local prefix = nil
  if name == '' then
    prefix = ''
    out[#out + 1] = false
    out[#out + 1] = false
  else
    gen = redis.call('GET', 'crm:' .. name .. ':active')
    out[#out + 1] = gen
    if gen then
      out[#out + 1] = redis.call('GET', 'crm:' .. name .. ':meta:gen:' .. gen .. ':checkpoint')
      prefix = 'crm:' .. name .. ':' .. gen .. ':'
    else
      out[#out + 1] = false
    end
  end
  for j = keys, keys + n - 1 do
    if prefix then out[#out + 1] = redis.call('GET', prefix .. ARGV[j]) else out[#out + 1] = false end
  end
  for j = keys + n, keys + n + z - 1 do
    if prefix then out[#out + 1] = redis.call('ZCARD', prefix .. ARGV[j]) else out[#out + 1] = 0 end
  end
  i = keys + n + z
end
return out
`

var readActiveScript = redis.NewScript(readActiveLua)

// ReadActive returns, in one atomic round trip, each projection's served
// generation (see ActivePrefix), the checkpoint that generation has
// committed, and the values of the requested keys of that generation. The
// query API uses it for read-your-writes (a projection has applied every
// event up to its checkpoint's commit position) and to read documents
// without racing an alias switch.
func ReadActive(ctx context.Context, rdb redis.Scripter, reqs ...ActiveRead) ([]ActiveState, error) {
	args := make([]any, 0, 2*len(reqs)+4)
	for _, r := range reqs {
		args = append(args, r.Name, len(r.Keys), len(r.ZCards))
		for _, k := range r.Keys {
			args = append(args, k)
		}
		for _, k := range r.ZCards {
			args = append(args, k)
		}
	}
	res, err := readActiveScript.Run(ctx, rdb, nil, args...).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]ActiveState, len(reqs))
	i := 0
	next := func() *string {
		if i >= len(res) {
			i++
			return nil
		}
		v := res[i]
		i++
		if s, ok := v.(string); ok {
			return &s
		}
		return nil
	}
	for n, r := range reqs {
		st := ActiveState{Name: r.Name, Values: make([]*string, len(r.Keys))}
		gen, cp := next(), next()
		if gen != nil {
			st.Gen, st.Prefix = *gen, GenerationPrefix(r.Name, *gen)
		}
		if cp != nil {
			c, err := parseCheckpoint(*cp)
			if err != nil {
				return nil, fmt.Errorf("projection %s: %w", r.Name, err)
			}
			st.Checkpoint = c
		}
		for k := range r.Keys {
			st.Values[k] = next()
		}
		if len(r.ZCards) > 0 {
			st.Cards = make([]int64, len(r.ZCards))
			for k := range r.ZCards {
				if i < len(res) {
					st.Cards[k], _ = res[i].(int64)
				}
				i++
			}
		}
		out[n] = st
	}
	if i != len(res) {
		return nil, fmt.Errorf("projections: read-active script answered %d values, want %d", len(res), i)
	}
	return out, nil
}

// StoredStatus returns what Redis holds about projection name, for a
// process that does not run its projector (an API replica): the served and
// building generations, the lease holder, the state the holder published,
// the checkpoints and the parked count. Version, Head and the lag fields
// are left for the caller.
func StoredStatus(ctx context.Context, rdb redis.Cmdable, name string) (Status, error) {
	st := Status{Name: name, State: StateStopped}
	vals, err := rdb.MGet(ctx, AliasKey(name), metaKey(name, "building"), metaKey(name, "lease"), metaKey(name, "state")).Result()
	if err != nil {
		return st, err
	}
	str := func(x any) string { s, _ := x.(string); return s }
	st.Active, st.Building, st.Holder = str(vals[0]), str(vals[1]), str(vals[2])
	st.LeaseHeld = st.Holder != ""
	if st.Holder != "" {
		// A holder that has published nothing yet has just taken the lease.
		st.State = publishedState(str(vals[3]), st.Holder, &st.LastError, StateCatchingUp)
	}
	cpOf := func(gen string) (uint64, error) {
		if gen == "" {
			return 0, nil
		}
		s, err := rdb.Get(ctx, genMetaKey(name, gen, "checkpoint")).Result()
		if errors.Is(err, redis.Nil) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		c, err := parseCheckpoint(s)
		return c.Commit, err
	}
	if st.Checkpoint, err = cpOf(st.Active); err != nil {
		return st, err
	}
	if st.BuildCheckpoint, err = cpOf(st.Building); err != nil {
		return st, err
	}
	if st.Active != "" {
		if st.Parked, err = rdb.LLen(ctx, genMetaKey(name, st.Active, "parked")).Result(); err != nil {
			return st, err
		}
	}
	return st, nil
}
