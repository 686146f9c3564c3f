package setting

import (
	"encoding/json"
	"testing"
	"time"
)

func TestDurationJSON(t *testing.T) {
	for _, c := range []struct {
		d    Duration
		text string
	}{{Duration(5 * time.Second), `"5s"`}, {Duration(24 * time.Hour), `"24h0m0s"`}, {Duration(1500 * time.Millisecond), `"1.5s"`}, {0, `"0s"`}} {
		b, err := json.Marshal(c.d)
		if err != nil || string(b) != c.text {
			t.Errorf("Marshal(%v) = %s, %v; want %s", time.Duration(c.d), b, err, c.text)
		}
		var back Duration
		if err := json.Unmarshal(b, &back); err != nil || back != c.d {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, back, err, c.d)
		}
	}
	var d Duration
	if err := json.Unmarshal([]byte(`"24h"`), &d); err != nil || d.Std() != 24*time.Hour {
		t.Errorf(`Unmarshal("24h") = %v, %v`, d, err)
	}
	for _, bad := range []string{`5`, `"5"`, `"soon"`, `null5`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("Unmarshal(%s) accepted", bad)
		}
	}
}
