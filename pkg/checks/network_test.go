package checks

import (
	"net/netip"
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// isolated moves the instance into the subnet without a route out.
func isolated(f *fixture) { f.moveTo(subIso, "10.0.2.10") }

// viaEndpoints isolates the instance behind endpoints with private DNS.
func viaEndpoints(f *fixture) {
	isolated(f)
	f.addEndpoints(true)
}

func egressOnly(rules ...inventory.SGRule) func(f *fixture) {
	return func(f *fixture) { f.reg.Network.SecurityGroups["sg-app"].Egress = rules }
}

func tcp(from, to int32, cidrs ...string) inventory.SGRule {
	r := inventory.SGRule{Protocol: "tcp", FromPort: from, ToPort: to}
	for _, c := range cidrs {
		r.CIDRs = append(r.CIDRs, pfx(c))
	}
	return r
}

func TestNetNoPathToSSMEndpoints(t *testing.T) {
	runInstanceCases(t, "net_no_path_to_ssm_endpoints", []tc{
		{name: "private subnet without NAT and without endpoints", want: Fail, sev: High,
			setup:  isolated,
			detail: []string{instID + " in subnet " + subIso, "rtb-iso", "ssm/ec2messages/ssmmessages"},
			evidence: map[string]any{"routeTable": "rtb-iso", "defaultRoute": "none",
				"missingEndpoints": []string{"ssm", "ec2messages", "ssmmessages"}}},
		{name: "private subnet with only the ssm endpoint", want: Fail,
			setup: func(f *fixture) {
				isolated(f)
				f.addEndpoints(true, "ssm")
			},
			evidence: map[string]any{"missingEndpoints": []string{"ec2messages", "ssmmessages"}}},
		{name: "endpoint being deleted does not count", want: Fail,
			setup: func(f *fixture) {
				viaEndpoints(f)
				f.reg.Network.VPCs[vpcID].Endpoints[2].State = "deleting"
			},
			evidence: map[string]any{"missingEndpoints": []string{"ssmmessages"}}},
		{name: "blackhole default route", want: Fail,
			setup: func(f *fixture) {
				rt := f.subnet(subNAT).RouteTable
				rt.Routes[1].Blackhole = true
			},
			evidence: map[string]any{"defaultRoute": "0.0.0.0/0 -> nat nat-0001 (blackhole)"}},
		{name: "more specific blackhole wins over the NAT route", want: Fail,
			setup: func(f *fixture) {
				rt := f.subnet(subNAT).RouteTable
				rt.Routes = append(rt.Routes, inventory.Route{Destination: pfx("52.94.0.0/16"), Target: "nat", Blackhole: true})
			}},
		{name: "internet gateway without a public IP", want: Fail,
			setup:    func(f *fixture) { f.moveTo(subPub, "10.0.3.10") },
			evidence: map[string]any{"publicIp": false, "defaultRoute": "0.0.0.0/0 -> igw igw-0001"}},
		{name: "internet gateway with a public IP", want: Pass,
			setup: func(f *fixture) {
				f.moveTo(subPub, "10.0.3.10")
				f.inst().PublicIP = true
			}},
		{name: "NAT gateway", want: Pass},
		{name: "transit gateway is assumed to lead out", want: Pass,
			setup: func(f *fixture) {
				rt := f.subnet(subNAT).RouteTable
				rt.Routes[1] = inventory.Route{Destination: pfx("0.0.0.0/0"), Target: "tgw", TargetID: "tgw-1"}
			}},
		{name: "private subnet with all three endpoints", want: Pass, setup: viaEndpoints},
		{name: "default route through a Gateway Load Balancer endpoint", want: Pass,
			setup: func(f *fixture) {
				rt := f.subnet(subNAT).RouteTable
				rt.Routes[1] = inventory.Route{Destination: pfx("0.0.0.0/0"), Target: "vpce", TargetID: "vpce-gwlb"}
			}},
		{name: "IPv6-only subnet through an egress-only gateway", want: Pass,
			setup: func(f *fixture) { f.moveTo(subV6, "") }},
		{name: "subnet not collected", want: "",
			setup: func(f *fixture) { f.inst().SubnetID = "subnet-gone" }},
		{name: "route table not collected", want: "",
			setup: func(f *fixture) {
				isolated(f)
				f.subnet(subIso).RouteTable = nil
			}},
		{name: "stopped", want: "",
			setup: func(f *fixture) {
				isolated(f)
				f.inst().State = "stopped"
			}},
	})
}

func TestNetEndpointPrivateDNSOff(t *testing.T) {
	runInstanceCases(t, "net_endpoint_private_dns_off", []tc{
		{name: "endpoint without private DNS and no route out", want: Fail, sev: High,
			setup: func(f *fixture) {
				isolated(f)
				f.addEndpoints(false)
			},
			detail: []string{instID + " resolves the public SSM names", "no route out"},
			evidence: map[string]any{"endpoints": []string{"vpce-ssm (ssm)", "vpce-ec2messages (ec2messages)",
				"vpce-ssmmessages (ssmmessages)"}, "pathOut": false}},
		{name: "endpoint without private DNS behind NAT", want: Fail, sev: Medium,
			setup:    func(f *fixture) { f.addEndpoints(false, "ssm") },
			detail:   []string{"bypasses the endpoint"},
			evidence: map[string]any{"endpoints": []string{"vpce-ssm (ssm)"}, "pathOut": true}},
		{name: "VPC DNS hostnames off", want: Fail, sev: High,
			setup: func(f *fixture) {
				viaEndpoints(f)
				f.reg.Network.VPCs[vpcID].DNSHostnames = false
			},
			evidence: map[string]any{"reasons": []string{vpcID + " has enableDnsHostnames off"}, "dnsHostnames": false}},
		{name: "endpoints with private DNS", want: Pass, setup: viaEndpoints},
		{name: "no endpoints", want: ""},
	})
}

func TestNetSGEgress443Blocked(t *testing.T) {
	runInstanceCases(t, "net_sg_egress_443_blocked", []tc{
		{name: "NAT path with egress only inside the VPC", want: Fail, sev: High,
			setup:  egressOnly(tcp(443, 443, "10.0.0.0/16")),
			detail: []string{instID + " (sg-app)", "via the internet"},
			evidence: map[string]any{"securityGroups": []string{"sg-app"}, "blocked": []string{
				"ssm via the internet (52.94.0.1)", "ec2messages via the internet (52.94.0.1)",
				"ssmmessages via the internet (52.94.0.1)"}}},
		{name: "NAT path with egress 443 anywhere", want: Pass, setup: egressOnly(tcp(443, 443, "0.0.0.0/0"))},
		{name: "NAT path with a port range covering 443", want: Pass, setup: egressOnly(tcp(1, 1024, "0.0.0.0/0"))},
		{name: "NAT path with egress to a prefix list", want: Pass,
			setup: egressOnly(inventory.SGRule{Protocol: "tcp", FromPort: 443, ToPort: 443, PrefixListIDs: []string{"pl-1"}})},
		{name: "NAT path with only port 80 open", want: Fail, setup: egressOnly(tcp(80, 80, "0.0.0.0/0"))},
		{name: "endpoint path with egress to the endpoint subnet", want: Pass,
			setup: func(f *fixture) {
				viaEndpoints(f)
				egressOnly(tcp(443, 443, "10.0.9.0/24"))(f)
			}},
		{name: "endpoint path with egress to the endpoint's interface address", want: Pass,
			setup: func(f *fixture) {
				viaEndpoints(f)
				egressOnly(tcp(443, 443, "10.0.9.57/32"))(f)
			}},
		{name: "endpoint path with egress to the endpoint security group", want: Pass,
			setup: func(f *fixture) {
				viaEndpoints(f)
				egressOnly(inventory.SGRule{Protocol: "6", FromPort: 443, ToPort: 443, GroupIDs: []string{"sg-ep"}})(f)
			}},
		{name: "endpoint path with egress to another subnet only", want: Fail,
			setup: func(f *fixture) {
				viaEndpoints(f)
				egressOnly(tcp(443, 443, "10.0.1.0/24"))(f)
			},
			detail: []string{"ssm via endpoint vpce-ssm (10.0.9.0/24)"}},
		{name: "second security group allows it", want: Pass,
			setup: func(f *fixture) {
				egressOnly()(f)
				f.reg.Network.SecurityGroups["sg-web"] = &inventory.SecurityGroup{ID: "sg-web",
					Egress: []inventory.SGRule{{Protocol: "-1", CIDRs: []netip.Prefix{pfx("0.0.0.0/0")}}}}
				f.inst().SecurityGroupIDs = []string{"sg-app", "sg-web"}
			}},
		{name: "IPv6-only instance: endpoint addresses not collected", want: "", setup: func(f *fixture) {
			f.addEndpoints(true)
			f.moveTo(subV6, "")
		}},
		{name: "security group not collected", want: "",
			setup: func(f *fixture) { f.inst().SecurityGroupIDs = []string{"sg-gone"} }},
		{name: "no path at all is another check's finding", want: "",
			setup: func(f *fixture) {
				isolated(f)
				egressOnly()(f)
			}},
	})
}

func TestNetEndpointSGIngress443Blocked(t *testing.T) {
	ingress := func(rules ...inventory.SGRule) func(f *fixture) {
		return func(f *fixture) {
			viaEndpoints(f)
			f.reg.Network.SecurityGroups["sg-ep"].Ingress = rules
		}
	}
	runInstanceCases(t, "net_endpoint_sg_ingress_443_blocked", []tc{
		{name: "endpoint security group admits another network only", want: Fail, sev: High,
			setup:  ingress(tcp(443, 443, "10.1.0.0/16")),
			detail: []string{"endpoint vpce-ssm, vpce-ec2messages, vpce-ssmmessages", "from " + instID + " (10.0.2.10)"},
			evidence: map[string]any{"endpoints": []string{"vpce-ssm", "vpce-ec2messages", "vpce-ssmmessages"},
				"source": "10.0.2.10"}},
		{name: "endpoint security group admits only port 80", want: Fail, setup: ingress(tcp(80, 80, "10.0.0.0/16"))},
		{name: "endpoint security group admits the VPC", want: Pass, setup: ingress(tcp(443, 443, "10.0.0.0/16"))},
		{name: "endpoint security group admits the instance's group", want: Pass,
			setup: ingress(inventory.SGRule{Protocol: "-1", GroupIDs: []string{"sg-app"}})},
		{name: "only one endpoint blocked", want: Fail,
			setup: func(f *fixture) {
				viaEndpoints(f)
				f.reg.Network.SecurityGroups["sg-closed"] = &inventory.SecurityGroup{ID: "sg-closed"}
				f.reg.Network.VPCs[vpcID].Endpoints[1].SecurityGroupIDs = []string{"sg-closed"}
			},
			evidence: map[string]any{"endpoints": []string{"vpce-ec2messages"}}},
		{name: "instance goes through NAT, not the endpoints", want: ""},
		{name: "IPv6-only instance: endpoint addresses not collected", want: "", setup: func(f *fixture) {
			f.addEndpoints(true)
			f.moveTo(subV6, "")
		}},
	})
}

func TestNetNACLBlocks443(t *testing.T) {
	nacl := func(subnet string, entries ...inventory.NACLEntry) func(f *fixture) {
		return func(f *fixture) { f.subnet(subnet).NACL.Entries = entries }
	}
	allowAll := func(rule int32, egress bool) inventory.NACLEntry {
		return inventory.NACLEntry{RuleNumber: rule, Egress: egress, Protocol: "-1", CIDR: pfx("0.0.0.0/0"), Allow: true}
	}
	entry := func(rule int32, egress bool, cidr string, from, to int32, allow bool) inventory.NACLEntry {
		return inventory.NACLEntry{RuleNumber: rule, Egress: egress, Protocol: "6", CIDR: pfx(cidr), FromPort: from, ToPort: to, Allow: allow}
	}
	runInstanceCases(t, "net_nacl_blocks_443", []tc{
		{name: "open NACL behind NAT", want: Pass},
		{name: "egress deny 443 ahead of allow-all", want: Fail, sev: High,
			setup:  nacl(subNAT, entry(90, true, "0.0.0.0/0", 443, 443, false), allowAll(100, true), allowAll(100, false)),
			detail: []string{"Network ACL acl-nat", instID, "rules 90"},
			evidence: map[string]any{"rules": []int32{90}, "nacls": []string{"acl-nat"},
				"blocks": []naclBlock{{NACL: "acl-nat", Subnet: subNAT, Direction: "egress", Peer: "internet (52.94.0.1)", Ports: "443", Rule: 90}}}},
		{name: "first match wins: allow 443 before a deny-all", want: Pass,
			setup: nacl(subNAT, entry(100, true, "0.0.0.0/0", 443, 443, true),
				inventory.NACLEntry{RuleNumber: 200, Egress: true, Protocol: "-1", CIDR: pfx("0.0.0.0/0")},
				allowAll(100, false))},
		{name: "ingress allows only part of the ephemeral range", want: Fail,
			setup:  nacl(subNAT, allowAll(100, true), entry(100, false, "0.0.0.0/0", 1024, 40000, true)),
			detail: []string{"rules * (default deny)"},
			evidence: map[string]any{"rules": []int32{naclDefaultRule},
				"blocks": []naclBlock{{NACL: "acl-nat", Subnet: subNAT, Direction: "ingress", Peer: "internet (52.94.0.1)", Ports: "40001-60999", Rule: naclDefaultRule}}}},
		{name: "deny inside the ephemeral range splits it", want: Fail,
			setup: nacl(subNAT, allowAll(100, true), entry(50, false, "0.0.0.0/0", 50000, 50010, false), allowAll(100, false)),
			evidence: map[string]any{"rules": []int32{50},
				"blocks": []naclBlock{{NACL: "acl-nat", Subnet: subNAT, Direction: "ingress", Peer: "internet (52.94.0.1)", Ports: "50000-50010", Rule: 50}}}},
		{name: "Linux range open, Linux instance passes", want: Pass,
			setup: nacl(subNAT, allowAll(100, true), entry(100, false, "0.0.0.0/0", 32768, 60999, true))},
		{name: "Linux range open, Windows instance fails", want: Fail,
			setup: func(f *fixture) {
				nacl(subNAT, allowAll(100, true), entry(100, false, "0.0.0.0/0", 32768, 60999, true))(f)
				f.inst().Platform = "windows"
			},
			evidence: map[string]any{"blocks": []naclBlock{{NACL: "acl-nat", Subnet: subNAT, Direction: "ingress",
				Peer: "internet (52.94.0.1)", Ports: "61000-65535", Rule: naclDefaultRule}}}},
		{name: "endpoint subnet NACL denies 443 from the instance subnet", want: Fail,
			setup: func(f *fixture) {
				viaEndpoints(f)
				nacl(subEP, entry(10, false, "10.0.2.0/24", 443, 443, false), allowAll(100, false), allowAll(100, true))(f)
			},
			detail: []string{"Network ACL acl-ep"},
			evidence: map[string]any{"blocks": []naclBlock{{NACL: "acl-ep", Subnet: subEP, Direction: "ingress",
				Peer: "10.0.2.0/24", Ports: "443", Rule: 10}}}},
		{name: "instance NACL blocks egress to the endpoint subnet", want: Fail,
			setup: func(f *fixture) {
				viaEndpoints(f)
				nacl(subIso, entry(10, true, "10.0.9.0/24", 0, 65535, false), allowAll(100, false), allowAll(100, true))(f)
			},
			evidence: map[string]any{"blocks": []naclBlock{{NACL: "acl-iso", Subnet: subIso, Direction: "egress",
				Peer: "10.0.9.0/24", Ports: "443", Rule: 10}}}},
		{name: "endpoint NACL denies half the instance subnet: instance in the other half", want: Pass,
			setup: func(f *fixture) {
				viaEndpoints(f)
				nacl(subEP, entry(10, false, "10.0.2.128/25", 443, 443, false), allowAll(100, false), allowAll(100, true))(f)
			}},
		{name: "endpoint NACL denies half the instance subnet: instance in that half", want: Fail,
			setup: func(f *fixture) {
				viaEndpoints(f)
				f.inst().PrivateIP = addr("10.0.2.200")
				nacl(subEP, entry(10, false, "10.0.2.128/25", 443, 443, false), allowAll(100, false), allowAll(100, true))(f)
			},
			evidence: map[string]any{"blocks": []naclBlock{{NACL: "acl-ep", Subnet: subEP, Direction: "ingress",
				Peer: "10.0.2.200", Ports: "443", Rule: 10}}}},
		{name: "endpoint in the instance's own subnet is not filtered by NACLs", want: "",
			setup: func(f *fixture) {
				f.moveTo(subEP, "10.0.9.20")
				f.addEndpoints(true)
				nacl(subEP)(f) // deny everything
			}},
		{name: "IPv6-only instance: endpoint addresses not collected", want: "", setup: func(f *fixture) {
			f.addEndpoints(true)
			f.moveTo(subV6, "")
		}},
		{name: "IPv6-only instance through an egress-only gateway", want: Pass,
			setup: func(f *fixture) { f.moveTo(subV6, "") }},
		{name: "NACL not collected", want: "",
			setup: func(f *fixture) { f.subnet(subNAT).NACL = nil }},
		{name: "no path at all", want: "", setup: isolated},
	})
}

// Verdicts are cached per subnet: a second instance in the same subnet with
// a different platform must not reuse the first one's.
func TestNACLCacheKeysPlatform(t *testing.T) {
	f := newFixture()
	f.subnet(subNAT).NACL.Entries = []inventory.NACLEntry{
		{RuleNumber: 100, Egress: true, Protocol: "-1", CIDR: pfx("0.0.0.0/0"), Allow: true},
		{RuleNumber: 100, Protocol: "6", CIDR: pfx("0.0.0.0/0"), FromPort: 32768, ToPort: 60999, Allow: true},
	}
	f.addInstance("i-0abc0000000000002", func(in *inventory.Instance) { in.Platform = "windows" })
	s := f.scope()
	c := Lookup("net_nacl_blocks_443")
	if o := c.Instance(s, &f.reg.Instances[0]); o.Status != Pass {
		t.Errorf("linux: %s %s", o.Status, o.Detail)
	}
	if o := c.Instance(s, &f.reg.Instances[1]); o.Status != Fail {
		t.Errorf("windows: %s, want FAIL", o.Status)
	}
}

// AWS reserves the first four addresses of every subnet, so the first one
// an endpoint interface can have is the fifth.
func TestFirstUsable(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.9.0/24":             "10.0.9.4",
		"10.0.9.77/24":            "10.0.9.4",
		"2600:1f18:abcd:100::/64": "2600:1f18:abcd:100::4",
	} {
		if got := firstUsable(pfx(in)); got != addr(want) {
			t.Errorf("firstUsable(%s) = %s, want %s", in, got, want)
		}
	}
	if got := firstUsable(netip.Prefix{}); got.IsValid() {
		t.Errorf("firstUsable(invalid) = %s", got)
	}
}
