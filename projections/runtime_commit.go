package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Committing a batch: one Redis MULTI/EXEC transaction guarded by WATCH.
//
// The commit reads the fencing epoch and the generation's checkpoint (and
// the stored type of every key a ZADD/ZREM/SADD/SREM of the batch meets
// first, unless known) with WATCH on the epoch and the checkpoint, checks
// them (the epoch is ours, the checkpoint moves forwards and is still there
// when we committed one before, every write fits its key's type), then sends
// MULTI, the dead-letter entries, the writes (SETs of keys nothing else
// touches in the batch merged into MSETs, the rest in order) and the new
// checkpoint, and EXEC. If another process changed the epoch or the
// checkpoint in between, EXEC does nothing and the commit is checked again
// (it then fails as fenced or backwards). Native commands cost Redis far
// less than the same writes issued by a Lua script (each redis.call copies
// its arguments twice), which matters when a rebuild writes millions of
// keys.
//
// Type checks are what the Lua script's TYPE calls were: a batch whose
// write would fail with WRONGTYPE (a handler bug) is refused before
// anything is written. Keys of a fresh build that the track never wrote are
// known to be absent (the value cache's Bloom filter), and the types the
// track committed are remembered (bounded), so few TYPE calls remain.

// planBufs are a batch's reusable buffers for its commit plans.
type planBufs struct {
	check, final map[string]string
	other        map[string]bool
	last         map[string]int
	arena        []any   // the arguments of the commands other than MSETs
	cmds         [][]any // those commands
	msetArgs     []any   // the MSET chunks, back to back
}

// commitPlan is a batch turned into Redis commands.
type commitPlan struct {
	cmds  [][]any           // MSETs first, then the other writes in batch order
	check map[string]string // key → type it must have unless missing ("zset", "set")
	final map[string]string // key → its type after the batch ("zset?": a sorted set or none)
}

// msetChunk bounds the keys of one MSET.
const msetChunk = 512

var opType = map[string]string{"ZADD": "zset", "ZREM": "zset", "SADD": "set", "SREM": "set"}

// plan turns the batch's live ops into commands and the type checks they
// need. known returns a key's type when the track knows it ("" if not).
func (b *batchTx) plan(known func(key string) string) (commitPlan, error) {
	// The maps and the argument arena are the batch's, reused from one
	// commit to the next (the plan lives until its commit returned).
	if b.pb.check == nil {
		b.pb = planBufs{check: map[string]string{}, final: map[string]string{}, other: map[string]bool{}, last: map[string]int{}}
	}
	clear(b.pb.check)
	clear(b.pb.final)
	clear(b.pb.other)
	clear(b.pb.arena)
	clear(b.pb.cmds)
	arena, cmds := b.pb.arena[:0], b.pb.cmds[:0]
	defer func() { b.pb.arena, b.pb.cmds = arena, cmds }()
	p := commitPlan{check: b.pb.check, final: b.pb.final}
	// Keys written by anything but SET: their SETs stay in order.
	other := b.pb.other
	for i := 0; i < len(b.ops); {
		name := b.ops[i].(string)
		n, _ := strconv.Atoi(b.ops[i+1].(string))
		switch name {
		case "", "SET":
		case "DEL":
			for _, k := range b.ops[i+2 : i+2+n] {
				other[k.(string)] = true
			}
		default:
			other[b.ops[i+2].(string)] = true
		}
		i += 2 + n
	}
	// SETs of keys nothing else touches go into MSETs (msetArgs holds
	// "MSET", key, value, ... per chunk, back to back); every other
	// command gets its own slice of the arena.
	clear(b.pb.msetArgs)
	msetArgs := b.pb.msetArgs[:0]
	defer func() { b.pb.msetArgs = msetArgs }()
	var chunks []int // start of each MSET chunk in msetArgs
	clear(b.pb.last)
	last := b.pb.last // key → its last command in cmds (not MSETs)
	pairs := 0
	for i := 0; i < len(b.ops); {
		name := b.ops[i].(string)
		n, _ := strconv.Atoi(b.ops[i+1].(string))
		args := b.ops[i+2 : i+2+n]
		i += 2 + n
		switch name {
		case "":
			continue
		case "SET":
			k := args[0].(string)
			p.final[k] = "string"
			v := args[1]
			if dv, ok := v.(*docVal); ok {
				enc, err := dv.encode(&b.scratch)
				if err != nil {
					return commitPlan{}, fmt.Errorf("%w: CRMENCODE read model key %s: %v", errEncode, k, err)
				}
				v = enc
			}
			if !other[k] {
				if pairs%msetChunk == 0 {
					chunks = append(chunks, len(msetArgs))
					msetArgs = append(msetArgs, "MSET")
				}
				msetArgs = append(msetArgs, k, v)
				pairs++
				continue
			}
			delete(last, k)
			start := len(arena)
			arena = append(arena, "SET", k, v)
			cmds = append(cmds, arena[start:len(arena):len(arena)])
			continue
		case "DEL":
			for _, k := range args {
				p.final[k.(string)] = "none"
			}
		default:
			k, want := args[0].(string), opType[name]
			if want == "" {
				return commitPlan{}, fmt.Errorf("%w: CRMWRONGTYPE unknown write op %s", errWrongType, name)
			}
			t, seen := p.final[k]
			if !seen {
				if t = known(k); t == "" {
					// Stored type unknown: checked by TYPE before EXEC.
					p.check[k] = want
					t = want
				}
			}
			if t != "none" && t != want && t != want+"?" {
				return commitPlan{}, fmt.Errorf("%w: CRMWRONGTYPE %s on %s holding a %s", errWrongType, name, k, strings.TrimSuffix(t, "?"))
			}
			if name == "ZADD" || name == "SADD" {
				p.final[k] = want
			} else {
				// A ZREM/SREM may empty the key: "zset?" is a sorted set
				// or nothing (fine for sorted-set ops, not remembered).
				p.final[k] = want + "?"
			}
		}
		// Consecutive ops of one kind on a key (nothing else touched it in
		// between) become one command: SADD k a, SADD k b → SADD k a b.
		// Redis applies the members in order, so the result is the same.
		if name != "DEL" {
			k := args[0].(string)
			if j, ok := last[k]; ok && cmds[j][0] == name {
				cmds[j] = append(cmds[j], args[1:]...)
				continue
			}
			last[k] = len(cmds)
		} else {
			for _, k := range args {
				delete(last, k.(string))
			}
		}
		start := len(arena)
		arena = append(arena, name)
		arena = append(arena, args...)
		cmds = append(cmds, arena[start:len(arena):len(arena)])
	}
	// MSETs first: they only write keys no other command touches.
	all := make([][]any, 0, len(chunks)+len(cmds))
	for j, c := range chunks {
		end := len(msetArgs)
		if j+1 < len(chunks) {
			end = chunks[j+1]
		}
		all = append(all, msetArgs[c:end:end])
	}
	p.cmds = append(all, cmds...)
	return p, nil
}

// commitGuard is what a commit checks before it writes.
type commitGuard struct {
	epochKey, checkpointKey, parkedKey string
	epoch                              string
	checkpoint                         string // the new checkpoint (fixed width)
	expect                             bool   // a checkpoint must already be stored
	prev                               string // with expect: the checkpoint this track last committed
}

// commitBatch writes parked entries, the plan's commands and the new
// checkpoint in one MULTI/EXEC guarded by WATCH (see the top of this file).
// Errors wrap errFenced, errBackwards, errLost, errWrongType or
// errExecPartial (each message carries its CRM code, as the scripts'
// replies do); anything else is transient.
func commitBatch(ctx context.Context, rdb redis.UniversalClient, g commitGuard, parked []any, p commitPlan) error {
	checkKeys := make([]string, 0, len(p.check))
	for k := range p.check {
		checkKeys = append(checkKeys, k)
	}
	for attempt := 0; ; attempt++ {
		err := rdb.Watch(ctx, func(tx *redis.Tx) error {
			pipe := tx.Pipeline()
			epoch := pipe.Get(ctx, g.epochKey)
			cp := pipe.Get(ctx, g.checkpointKey)
			types := make([]*redis.StatusCmd, len(checkKeys))
			for i, k := range checkKeys {
				types[i] = pipe.Type(ctx, k)
			}
			if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
				return err
			}
			if e, err := epoch.Result(); err != nil && !errors.Is(err, redis.Nil) {
				return err
			} else if e != g.epoch {
				return fmt.Errorf("%w (CRMFENCED epoch is %q, ours %s)", errFenced, e, g.epoch)
			}
			stored, err := cp.Result()
			switch {
			case errors.Is(err, redis.Nil):
				if g.expect {
					return fmt.Errorf("%w (CRMLOST checkpoint key missing)", errLost)
				}
			case err != nil:
				return err
			case stored >= g.checkpoint:
				return fmt.Errorf("%w (CRMBACKWARDS stored %s new %s)", errBackwards, stored, g.checkpoint)
			case g.expect && g.prev != "" && stored != g.prev:
				return fmt.Errorf("%w (CRMBACKWARDS stored %s, we committed %s: Redis lost writes)", errBackwards, stored, g.prev)
			}
			for i, k := range checkKeys {
				t, err := types[i].Result()
				if err != nil {
					return err
				}
				if want := p.check[k]; t != "none" && t != want {
					return fmt.Errorf("%w (CRMWRONGTYPE a write for a %s on %s holding a %s)", errWrongType, want, k, t)
				}
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				for _, e := range parked {
					pipe.RPush(ctx, g.parkedKey, e)
				}
				for _, c := range p.cmds {
					pipe.Do(ctx, c...)
				}
				pipe.Set(ctx, g.checkpointKey, g.checkpoint, 0)
				return nil
			})
			if err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE") {
				// EXEC ran but a command failed: only writes into our keys
				// by someone else (not fenced) can cause that.
				return fmt.Errorf("%w (CRMWRONGTYPE after EXEC: %v)", errExecPartial, err)
			}
			return err
		}, g.epochKey, g.checkpointKey)
		if errors.Is(err, redis.TxFailedErr) && attempt < 3 {
			continue // the epoch or the checkpoint moved: check again
		}
		return err
	}
}

// errEncode: a document of the batch cannot be encoded (a handler bug);
// nothing is written and the round restarts from the checkpoint.
var errEncode = errors.New("a document of the batch cannot be encoded (handler bug); nothing written")

// errExecPartial: a command of an executed transaction failed (someone
// else wrote one of the generation's keys with another type).
var errExecPartial = errors.New("a write of the committed batch failed")
