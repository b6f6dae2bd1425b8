package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/crm-es/crm/eventstore"
	"github.com/redis/go-redis/v9"
)

// Redis key layout of a projection NAME:
//
//	crm:NAME:active                  alias: the generation queries read ("v3", "v3-r7")
//	crm:NAME:GEN:...                 the read model of generation GEN (Tx keys)
//	crm:NAME:meta:lease              lease holder id (SET NX PX, renewed)
//	crm:NAME:meta:epoch              fencing epoch, raised on every lease acquisition
//	crm:NAME:meta:building           generation being built blue/green
//	crm:NAME:meta:rebuild            a rebuild request (crm projections rebuild), or "abandon:GEN" (a corrupt build)
//	crm:NAME:meta:garbage            set of retired generations being deleted
//	crm:NAME:meta:genseq:V           counter of version V's generation names (vV, vV-r1, …; never reused)
//	crm:NAME:meta:state              the holder's state, for other processes
//	crm:NAME:meta:gen:GEN:checkpoint $all checkpoint of GEN (committed with its writes)
//	crm:NAME:meta:gen:GEN:parked     dead-letter list of GEN (JSON entries)
//
// The first generation of version N is "vN"; a rebuild of the same version
// gets "vN-rK". Readers resolve the alias with ActivePrefix.

// AliasKey is the key naming the generation a projection's queries read.
func AliasKey(name string) string { return "crm:" + name + ":active" }

// GenerationPrefix is the key prefix of one generation's read model.
func GenerationPrefix(name, gen string) string { return "crm:" + name + ":" + gen + ":" }

// ActivePrefix returns the key prefix queries of projection name should
// read; ok is false while no generation has been built yet (or after the
// read store lost its data, until the rebuild has caught up).
func ActivePrefix(ctx context.Context, rdb redis.Cmdable, name string) (prefix string, ok bool, err error) {
	gen, err := rdb.Get(ctx, AliasKey(name)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return GenerationPrefix(name, gen), true, nil
}

// RequestRebuild asks the lease holder of projection name to rebuild it
// blue/green under a new generation (picked up within about a second).
func RequestRebuild(ctx context.Context, rdb redis.Cmdable, name string) error {
	return rdb.Set(ctx, metaKey(name, "rebuild"), "1", 0).Err()
}

// abandonPrefix marks a rebuild request that abandons the build it names:
// a plain request leaves a build in progress alone (it already reads the
// whole log), a corrupt build must start afresh.
const abandonPrefix = "abandon:"

// abandonBuild asks for the build gen to be dropped and built afresh.
func abandonBuild(ctx context.Context, rdb redis.Cmdable, name, gen string) error {
	return rdb.Set(ctx, metaKey(name, "rebuild"), abandonPrefix+gen, 0).Err()
}

func metaKey(name, k string) string { return "crm:" + name + ":meta:" + k }

func genMetaKey(name, gen, k string) string { return "crm:" + name + ":meta:gen:" + gen + ":" + k }

// genName is the generation name for version v and rebuild sequence seq
// (0 = the first build of v).
func genName(v int, seq int64) string {
	if seq == 0 {
		return "v" + strconv.Itoa(v)
	}
	return fmt.Sprintf("v%d-r%d", v, seq)
}

// genVersion parses the version out of a generation name (0 if malformed).
func genVersion(gen string) int {
	s, ok := strings.CutPrefix(gen, "v")
	if !ok {
		return 0
	}
	s, _, _ = strings.Cut(s, "-")
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return v
}

// formatCheckpoint is the stored form: fixed-width so that commits compare
// checkpoints as strings without losing precision.
func formatCheckpoint(c eventstore.Checkpoint) string {
	return fmt.Sprintf("%020d:%020d", c.Commit, c.Prepare)
}

func parseCheckpoint(s string) (eventstore.Checkpoint, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return eventstore.Checkpoint{}, fmt.Errorf("malformed checkpoint %q", s)
	}
	c, err1 := strconv.ParseUint(a, 10, 64)
	p, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return eventstore.Checkpoint{}, fmt.Errorf("malformed checkpoint %q", s)
	}
	return eventstore.Checkpoint{Commit: c, Prepare: p}, nil
}

// scripts are the Lua scripts of the runtime (loaded once per Redis by
// EVALSHA, sent again on NOSCRIPT).
type scripts struct {
	fenced, swap, acquire, renew, release *redis.Script
}

func newScripts() *scripts {
	return &scripts{
		fenced:  redis.NewScript(fencedLua),
		swap:    redis.NewScript(switchLua),
		acquire: redis.NewScript(acquireLua),
		renew:   redis.NewScript(renewLua),
		release: redis.NewScript(releaseLua),
	}
}

// Errors of the commits (runtime_commit.go) and the scripts.
var (
	errFenced    = errors.New("fenced: another process holds the projection's lease")
	errBackwards = errors.New("checkpoint would move backwards")
	errLost      = errors.New("checkpoint missing: the read store lost its data")
	errWrongType = errors.New("a write of the batch does not fit the key's type (handler bug); nothing written")
	errReplan    = errors.New("replan")
	// errNewerVersion: a newer binary has built (or is building) this
	// projection; an older process stands down.
	errNewerVersion = errors.New("newer version in charge")
)

func scriptErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "CRMFENCED"):
		return fmt.Errorf("%w (%s)", errFenced, msg)
	case strings.Contains(msg, "CRMBACKWARDS"):
		return fmt.Errorf("%w (%s)", errBackwards, msg)
	case strings.Contains(msg, "CRMLOST"):
		return fmt.Errorf("%w (%s)", errLost, msg)
	case strings.Contains(msg, "CRMWRONGTYPE"):
		return fmt.Errorf("%w (%s)", errWrongType, msg)
	}
	return err
}

// fencedLua runs write ops (name, nargs, args... per op) if the epoch
// is ours. KEYS: epoch. ARGV: epoch, ops...
const fencedLua = `
local e = redis.call('GET', KEYS[1])
if e ~= ARGV[1] then return redis.error_reply('CRMFENCED epoch is ' .. tostring(e) .. ', ours ' .. ARGV[1]) end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  redis.call(ARGV[i], unpack(ARGV, i + 2, i + 1 + n))
  i = i + 2 + n
end
return 1
`

// switchLua points the alias at a built generation and retires the old
// one; a served generation always has a checkpoint (zero if the log was
// empty), so a missing one means lost data. KEYS: epoch, alias, building,
// garbage, checkpoint. ARGV: epoch, generation, zero checkpoint.
const switchLua = `
local e = redis.call('GET', KEYS[1])
if e ~= ARGV[1] then return redis.error_reply('CRMFENCED epoch is ' .. tostring(e) .. ', ours ' .. ARGV[1]) end
local old = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[5], ARGV[3], 'NX')
redis.call('SET', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
if old and old ~= ARGV[2] then redis.call('SADD', KEYS[4], old) end
return old or ''
`

// acquireLua takes (or re-takes) the lease and returns the new epoch,
// or 0 when another holder has it. The epoch never falls below ARGV[3]
// (milliseconds since 1970), so it keeps rising even if Redis loses it.
// KEYS: lease, epoch. ARGV: owner, ttl ms, floor.
const acquireLua = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local e = redis.call('INCR', KEYS[2])
local f = tonumber(ARGV[3])
if e < f then
  redis.call('SET', KEYS[2], ARGV[3])
  e = f
end
return e
`

// renewLua extends the lease if we still hold it (1) or reports that
// we lost it (0). KEYS: lease. ARGV: owner, ttl ms.
const renewLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`

// releaseLua drops the lease if we hold it. KEYS: lease. ARGV: owner.
const releaseLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`
