package redistest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Dump returns a canonical form of every key under prefix, to compare two
// read stores key for key: the key without the prefix maps to its type and
// value ("string:V", "zset:m1=1;m2=2;", "set:a;b" with members sorted,
// "list:a;b", "hash:map[...]").
func Dump(tb testing.TB, rdb redis.Cmdable, prefix string) map[string]string {
	tb.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			tb.Fatal(err)
		}
		var v string
		switch typ {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "zset":
			for _, z := range rdb.ZRangeWithScores(ctx, k, 0, -1).Val() {
				v += fmt.Sprintf("%v=%g;", z.Member, z.Score)
			}
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			sort.Strings(m)
			v = strings.Join(m, ";")
		case "list":
			v = strings.Join(rdb.LRange(ctx, k, 0, -1).Val(), ";")
		case "hash":
			v = fmt.Sprint(rdb.HGetAll(ctx, k).Val())
		case "none":
			continue // deleted since the scan saw it
		default:
			tb.Fatalf("%s: unexpected type %s", k, typ)
		}
		out[strings.TrimPrefix(k, prefix)] = typ + ":" + v
	}
	if err := iter.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// DumpServed is Dump of several read models at once, each under the prefix
// active resolves for it (projections.ActivePrefix: its served generation),
// keyed "name|key", so that stores whose generations are named otherwise
// compare. A read model with no served generation fails tb.
func DumpServed[P interface{ Name() string }](tb testing.TB, rdb *redis.Client, models []P,
	active func(ctx context.Context, rdb redis.Cmdable, name string) (prefix string, ok bool, err error)) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, m := range models {
		prefix, ok, err := active(context.Background(), rdb, m.Name())
		if err != nil || !ok {
			tb.Fatalf("%s: no active generation (%v)", m.Name(), err)
		}
		for k, v := range Dump(tb, rdb, prefix) {
			out[m.Name()+"|"+k] = v
		}
	}
	return out
}
