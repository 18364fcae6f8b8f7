package inventory

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fleetdoctor/fleetdoctor/pkg/awsapi"
)

// DefaultConcurrency bounds how many account-regions are collected at once.
const DefaultConcurrency = 8

// iamConcurrency bounds concurrent IAM reads per account: IAM is one global
// control plane with low, unpublished limits (DESIGN §7).
const iamConcurrency = 4

// Collector reads Snapshots through an awsapi.Provider.
type Collector struct {
	Provider awsapi.Provider
	// Concurrency bounds concurrent account-regions; 0 means DefaultConcurrency.
	Concurrency int
	// MetricWindow is how far back IMDS metrics are summed.
	MetricWindow time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Progress, when set, is told as each account-region and each account's
	// IAM finishes.
	Progress Progress
}

// Collect reads every region of every account. Only a cancelled context
// makes it fail: anything AWS refuses is recorded as a CollectError in the
// snapshot and the rest carries on.
func (c *Collector) Collect(ctx context.Context, accounts, regions []string) (*Snapshot, error) {
	now := time.Now
	if c.Clock != nil {
		now = c.Clock
	}
	limit := c.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	accounts = slices.Compact(slices.Sorted(slices.Values(accounts)))
	regions = slices.Compact(slices.Sorted(slices.Values(regions)))
	if len(regions) == 0 {
		return nil, errors.New("no regions to collect")
	}
	snap := &Snapshot{CollectedAt: now().UTC(), MetricWindow: c.MetricWindow}
	prog := &progress{fn: c.Progress, total: len(accounts) * (len(regions) + 1)}

	// Phase 0: enter every account (assume the audit role) concurrently,
	// so that hundreds of accounts do not queue behind one another's STS
	// round trips.
	entered := make([]error, len(accounts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(limit)
	for i, id := range accounts {
		g.Go(func() error {
			entered[i] = c.Provider.Account(gctx, id)
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Phase 1: every reachable account-region, bounded. Each account's IAM
	// reader starts on the profiles and roles a region names as soon as
	// the region has listed them.
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(limit)
	policies := newPolicyCache()
	readers := make([]*iamReader, len(accounts))
	for ai, id := range accounts {
		acct := &Account{ID: id, Regions: make([]*Region, len(regions))}
		snap.Accounts = append(snap.Accounts, acct)
		if err := entered[ai]; err != nil {
			acct.Err = collectErr("account "+id+" (the audit role could not be assumed)", "sts:AssumeRole", err)
			acct.Regions = nil
			prog.add(id, "", len(regions)+1)
			continue
		}
		// IAM is global: any region's clients reach it.
		if clients, err := c.Provider.Clients(gctx, id, regions[0]); err != nil {
			acct.IAM.Err = collectErr("IAM", "iam:GetInstanceProfile", err)
		} else {
			readers[ai] = newIAMReader(ctx, clients.IAM, policies)
		}
		for i, name := range regions {
			g.Go(func() error {
				clients, err := c.Provider.Clients(gctx, id, name)
				r := &Region{Account: id, Name: name}
				if err != nil {
					r.fail(SourceInstances, collectErr("clients for "+name, "sts:AssumeRole", err))
				} else {
					collectRegion(gctx, clients, r, now(), c.MetricWindow, readers[ai])
				}
				acct.Regions[i] = r
				prog.add(id, name, 1)
				return gctx.Err()
			})
		}
	}
	err := g.Wait()

	// Phase 2: wait for each account's IAM reads.
	for ai, acct := range snap.Accounts {
		if rd := readers[ai]; rd != nil {
			acct.IAM = rd.wait()
			prog.add(acct.ID, "", 1)
		} else if acct.Err == nil {
			prog.add(acct.ID, "", 1)
		}
	}
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return snap, nil
}

// fail records the first error for a source.
func (r *Region) fail(src Source, e *CollectError) {
	if r.Errors == nil {
		r.Errors = map[Source]*CollectError{}
	}
	if _, ok := r.Errors[src]; !ok {
		r.Errors[src] = e
	}
}

// collectRegion fills r. Independent reads run concurrently; the network and
// the metrics wait for the instance list they are about.
//
// iamr, when set, is told the instance profiles and the DHMC role the
// region names as soon as they are known.
func collectRegion(ctx context.Context, c *awsapi.Clients, r *Region, now time.Time, window time.Duration, iamr *iamReader) {
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		agents map[string]*Agent
	)
	record := func(src Source, e *CollectError) {
		if e != nil {
			mu.Lock()
			r.fail(src, e)
			mu.Unlock()
		}
	}
	wg.Go(func() {
		a, e := readAgents(ctx, c.SSM)
		agents = a
		record(SourceManaged, e)
	})
	wg.Go(func() {
		d, e := readDefaults(ctx, c.EC2)
		r.Defaults = d
		record(SourceAccountDefaults, e)
	})
	wg.Go(func() {
		d, e := readDHMC(ctx, c.SSM)
		r.DHMC = d
		record(SourceDHMC, e)
		if iamr != nil && d.Enabled() {
			iamr.role(d.RoleName)
		}
	})

	insts, e := readInstances(ctx, c.EC2)
	record(SourceInstances, e)
	if e == nil {
		r.Instances = insts
		if iamr != nil {
			for i := range insts {
				iamr.profile(insts[i].ProfileARN)
			}
		}
		var calls map[string]*IMDSCalls
		wg.Go(func() {
			net, e := readNetwork(ctx, c.EC2, r.Name, insts)
			r.Network = net
			record(SourceNetwork, e)
		})
		wg.Go(func() {
			m, e := readMetrics(ctx, c.CloudWatch, insts, now, window)
			calls = m
			record(SourceMetrics, e)
		})
		wg.Wait()
		for i := range r.Instances {
			in := &r.Instances[i]
			in.Agent = agents[in.ID]
			if calls != nil {
				in.IMDSCalls = calls[in.ID]
				if in.IMDSCalls == nil {
					in.IMDSCalls = &IMDSCalls{}
				}
			}
		}
		return
	}
	wg.Wait()
}

// collectErr turns an AWS error into a CollectError. For the read-only calls
// fleetdoctor makes, the IAM action is the API name, so a denied call names
// the permission to grant.
func collectErr(what, api string, err error) *CollectError {
	kind := awsapi.Classify(err)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		kind = awsapi.KindOther
	}
	ce := &CollectError{What: what, API: api, Kind: string(kind), Code: awsapi.ErrorCode(err), Message: awsapi.ErrorMessage(err)}
	if kind == awsapi.KindAccessDenied {
		ce.Permission = api
	}
	return ce
}

type progress struct {
	mu    sync.Mutex
	fn    Progress
	done  int
	total int
}

func (p *progress) add(account, region string, n int) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.fn(ProgressEvent{Account: account, Region: region, Done: p.done, Total: p.total})
}
