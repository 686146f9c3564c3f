package main

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	rep, err := run(ctx, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(rep.Rows) != 3 {
		t.Fatalf("%d rows, want one per router", len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if row.Lookups != 200 || row.SuccessPct != 100 {
			t.Errorf("%s: %d lookups, %.1f%% correct; want 200, all correct", row.Protocol, row.Lookups, row.SuccessPct)
		}
	}
	if out.Len() == 0 {
		t.Fatal("no table printed")
	}
}
