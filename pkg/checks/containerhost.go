package checks

import (
	"cmp"
	"slices"
	"strings"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// DeclareContainerHostTag lets an owner say what an instance hosts when no
// orchestrator tag shows it (plain Docker, nested containers) or to opt a
// host out. Values: docker, ecs, eks, nested (containers inside containers,
// which cross one more network hop) or none.
const DeclareContainerHostTag = "fleetdoctor:container-host"

// Container host kinds.
const (
	hostDocker = "docker"
	hostECS    = "ecs"
	hostEKS    = "eks"
	hostNested = "nested"
	hostNone   = "none"
)

// containerHost is what an instance's tags say it runs.
type containerHost struct {
	kind    string // "" when the instance is not a container host
	cluster string // EKS cluster name, when a tag names it
	// declared is true when DeclareContainerHostTag decided the kind.
	declared bool
}

// hopsNeeded is the IMDS hop limit containers on the host need: each
// network namespace a packet leaves costs one hop, so a container needs 2
// and a container inside a container 3 (EC2 User Guide, "Instance metadata
// access considerations").
func (h containerHost) hopsNeeded() int32 {
	if h.kind == hostNested {
		return 3
	}
	return 2
}

// Tags EKS, Karpenter and ECS put on the instances they launch.
const (
	tagEKSCluster           = "eks:cluster-name"
	tagEKSClusterAWS        = "aws:eks:cluster-name"
	tagEKSClusterKarpenter  = "eks:eks-cluster-name"
	tagEKSNodegroup         = "eks:nodegroup-name"
	tagK8sClusterPrefix     = "kubernetes.io/cluster/"
	tagKarpenterNodePool    = "karpenter.sh/nodepool"
	tagKarpenterProvisioner = "karpenter.sh/provisioner-name"
	tagECSPrefix            = "aws:ecs:"
	tagECSManaged           = "AmazonECSManaged"
)

// containerHostOf reads the container-host signals from the instance's tags.
// It runs once per instance from a single check, so it is not cached.
func containerHostOf(in *inventory.Instance) containerHost {
	var h containerHost
	var eks, ecs bool
	var k8sCluster string
	for k := range in.Tags {
		switch {
		case k == tagEKSCluster || k == tagEKSClusterAWS || k == tagEKSClusterKarpenter ||
			k == tagEKSNodegroup || k == tagKarpenterNodePool || k == tagKarpenterProvisioner:
			eks = true
		case strings.HasPrefix(k, tagK8sClusterPrefix):
			eks = true
			// Map order is random; keep the smallest name so the verdict
			// is the same every run.
			if c := k[len(tagK8sClusterPrefix):]; k8sCluster == "" || c < k8sCluster {
				k8sCluster = c
			}
		case strings.HasPrefix(k, tagECSPrefix) || k == tagECSManaged:
			ecs = true
		}
	}
	if eks {
		h.cluster = cmp.Or(in.Tags[tagEKSCluster], in.Tags[tagEKSClusterAWS], in.Tags[tagEKSClusterKarpenter], k8sCluster)
	}
	switch {
	case eks:
		h.kind = hostEKS
	case ecs:
		h.kind = hostECS
	}
	if d, ok := in.Tags[DeclareContainerHostTag]; ok {
		h.declared = true
		switch d = strings.ToLower(strings.TrimSpace(d)); d {
		case hostNone:
			h.kind = ""
		case hostDocker, hostECS, hostEKS, hostNested:
			h.kind = d
		default:
			// A declaration we cannot read still says "this hosts
			// containers"; treat it as the common case.
			h.kind = hostDocker
		}
	}
	return h
}

// containerSignals lists the tag keys that made the instance a container host, for
// evidence.
func containerSignals(in *inventory.Instance) []string {
	var out []string
	for k := range in.Tags {
		switch {
		case k == tagEKSCluster, k == tagEKSClusterAWS, k == tagEKSClusterKarpenter, k == tagEKSNodegroup,
			k == tagKarpenterNodePool, k == tagKarpenterProvisioner, k == tagECSManaged, k == DeclareContainerHostTag,
			strings.HasPrefix(k, tagK8sClusterPrefix), strings.HasPrefix(k, tagECSPrefix):
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// irsaOnlyCluster reports whether the policy declares the EKS cluster as one
// whose pods never use the node's IMDS credentials.
func (s *Scope) irsaOnlyCluster(name string) bool {
	if name == "" {
		return false
	}
	if s.irsaOnly == nil {
		s.irsaOnly = make(map[string]bool, len(s.Config.IRSAOnlyClusters))
		for _, c := range s.Config.IRSAOnlyClusters {
			s.irsaOnly[c] = true
		}
	}
	return s.irsaOnly[name]
}

// ContainerHost kinds as ContainerHostOf reports them.
const (
	ContainerHostDocker = hostDocker
	ContainerHostECS    = hostECS
	ContainerHostEKS    = hostEKS
	ContainerHostNested = hostNested
)

// ContainerHost is what an instance's tags say it hosts, as the
// imds_hop_limit_too_low_for_containers check sees it.
type ContainerHost struct {
	// Kind is ContainerHostDocker, ContainerHostECS, ContainerHostEKS or
	// ContainerHostNested; empty when the instance is not a container host.
	Kind string
	// Cluster is the EKS cluster a tag names; empty when none does.
	Cluster string
	// Declared is true when DeclareContainerHostTag decided the kind.
	Declared bool
	// HopsNeeded is the IMDS hop limit the host's containers need: 2, or 3
	// for nested containers; 0 when the instance is not a container host.
	HopsNeeded int32
}

// ContainerHostOf reads the container-host signals (EKS, Karpenter and ECS
// tags, DeclareContainerHostTag) from the instance's tags, exactly as the
// checks do, so the remediation planner gates on the same verdict.
func ContainerHostOf(in *inventory.Instance) ContainerHost {
	h := containerHostOf(in)
	out := ContainerHost{Kind: h.kind, Cluster: h.cluster, Declared: h.declared}
	if h.kind != "" {
		out.HopsNeeded = h.hopsNeeded()
	}
	return out
}
