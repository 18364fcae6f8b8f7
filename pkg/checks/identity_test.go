package checks

import (
	"testing"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// Fixture changes shared by the identity cases.
func noProfile(f *fixture) { f.inst().ProfileARN = "" }

func roleDeletedSetup(f *fixture) {
	f.acct.IAM.Roles[roleName] = &inventory.Role{Name: roleName, Exists: false}
}

func withoutRegister(f *fixture) {
	f.role().Allowed["ssm:UpdateInstanceInformation"] = false
}

// breakDHMCRole leaves DHMC on with a role that lacks its policy.
func breakDHMCRole(f *fixture) {
	f.enableDHMC()
	r := f.acct.IAM.Roles[dhmcRole]
	r.AttachedPolicyARNs = nil
	r.Allowed = map[string]bool{}
}

func TestIAMNoInstanceProfileAndNoDHMC(t *testing.T) {
	runInstanceCases(t, "iam_no_instance_profile_and_no_dhmc", []tc{
		{name: "no profile and DHMC off", want: Fail, sev: High,
			setup:    noProfile,
			detail:   []string{instID + " has no instance profile and DHMC is off in " + regionName},
			evidence: map[string]any{"profileArn": "none", "dhmcSetting": "$None"}},
		{name: "no profile but DHMC on", want: Pass,
			setup: func(f *fixture) {
				noProfile(f)
				f.enableDHMC()
			}},
		{name: "has a profile", want: Pass},
		{name: "DHMC setting not read", want: "",
			setup: func(f *fixture) {
				noProfile(f)
				f.reg.DHMC = nil
			}},
		{name: "stopped", want: "",
			setup: func(f *fixture) {
				noProfile(f)
				f.inst().State = "stopped"
			}},
	})
}

func TestIAMProfileWithoutRole(t *testing.T) {
	runInstanceCases(t, "iam_profile_without_role", []tc{
		{name: "instance profile whose role was deleted", want: Fail, sev: High,
			setup:    roleDeletedSetup,
			detail:   []string{"Role " + roleName + " of instance profile " + profileARN, "EC2RoleRequestError: no EC2 instance role found", "404"},
			evidence: map[string]any{"problem": roleDeleted, "roleName": roleName, "profileArn": profileARN}},
		{name: "role removed from the profile", want: Fail, sev: High,
			setup:    func(f *fixture) { f.acct.IAM.Profiles[profileARN].RoleNames = nil },
			detail:   []string{"has no role"},
			evidence: map[string]any{"problem": profileNoRole}},
		{name: "profile deleted while associated", want: Fail,
			setup: func(f *fixture) {
				f.acct.IAM.Profiles[profileARN] = &inventory.InstanceProfile{ARN: profileARN, Exists: false}
			},
			detail:   []string{"no longer exists"},
			evidence: map[string]any{"problem": profileDeleted}},
		{name: "role deleted but DHMC catches the agent", want: Fail, sev: Medium,
			setup: func(f *fixture) {
				roleDeletedSetup(f)
				f.enableDHMC()
			},
			detail:   []string{"falls back to DHMC"},
			evidence: map[string]any{"dhmcFallback": true}},
		{name: "profile with a live role", want: Pass},
		{name: "profile could not be read", want: "",
			setup: func(f *fixture) {
				f.acct.IAM.Profiles[profileARN].Err = &inventory.CollectError{Kind: "access-denied"}
			}},
		{name: "role could not be read", want: "",
			setup: func(f *fixture) { f.role().Err = &inventory.CollectError{Kind: "throttled"} }},
		{name: "IAM not read in the account", want: "",
			setup: func(f *fixture) {
				roleDeletedSetup(f)
				f.acct.IAM.Err = &inventory.CollectError{Kind: "access-denied"}
			}},
		{name: "profile never collected", want: "",
			setup: func(f *fixture) { f.inst().ProfileARN = "arn:aws:iam::111122223333:instance-profile/other" }},
		{name: "no profile", want: "", setup: noProfile},
	})
}

func TestIAMRoleMissingSSMPermissions(t *testing.T) {
	runInstanceCases(t, "iam_role_missing_ssm_permissions", []tc{
		{name: "registers but cannot take commands (profile shadows DHMC)", want: Fail, sev: High,
			setup: func(f *fixture) {
				f.enableDHMC()
				f.role().Allowed["ssmmessages:CreateControlChannel"] = false
				delete(f.role().Allowed, "ec2messages:GetMessages")
			},
			detail: []string{"allows ssm:UpdateInstanceInformation but not", "takes precedence over DHMC"},
			evidence: map[string]any{"missingActions": []string{"ssmmessages:CreateControlChannel", "ec2messages:GetMessages"},
				"permissionsFrom": "simulation", "roleName": roleName}},
		{name: "cannot register and DHMC off", want: Fail, sev: High,
			setup:    withoutRegister,
			detail:   []string{"DHMC is off", "cannot register"},
			evidence: map[string]any{"missingActions": []string{"ssm:UpdateInstanceInformation"}, "dhmcEnabled": false}},
		{name: "cannot register and DHMC role broken", want: Fail,
			setup: func(f *fixture) {
				withoutRegister(f)
				breakDHMCRole(f)
			},
			detail: []string{"dhmc_role_misconfigured"}},
		{name: "cannot register but healthy DHMC supplies credentials", want: Pass,
			setup: func(f *fixture) {
				f.role().Allowed = map[string]bool{}
				f.role().PermissionsFrom = inventory.FromPolicyDocuments
				f.enableDHMC()
			}},
		{name: "role EC2 cannot assume is not the agent's: healthy DHMC covers it", want: Pass,
			setup: func(f *fixture) {
				f.enableDHMC()
				f.role().TrustedServices = nil
				f.role().Allowed["ssmmessages:OpenDataChannel"] = false
			}},
		{name: "all agent actions allowed", want: Pass},
		{name: "permissions not evaluated", want: "",
			setup: func(f *fixture) {
				f.role().Allowed = nil
				f.role().PermissionsFrom = ""
			}},
		{name: "role deleted is another check's finding", want: "", setup: roleDeletedSetup},
	})
}

func TestIAMRoleTrustMissingEC2(t *testing.T) {
	runInstanceCases(t, "iam_role_trust_missing_ec2", []tc{
		{name: "trust policy without ec2.amazonaws.com", want: Fail, sev: High,
			setup:    func(f *fixture) { f.role().TrustedServices = []string{"lambda.amazonaws.com"} },
			detail:   []string{"does not trust ec2.amazonaws.com"},
			evidence: map[string]any{"trustedServices": []string{"lambda.amazonaws.com"}, "roleName": roleName}},
		{name: "trust missing but DHMC catches the agent", want: Fail, sev: Medium,
			setup: func(f *fixture) {
				f.role().TrustedServices = nil
				f.enableDHMC()
			},
			evidence: map[string]any{"dhmcFallback": true}},
		{name: "trusts EC2 in the China partition", want: Pass,
			setup: func(f *fixture) { f.role().TrustedServices = []string{"ec2.amazonaws.com.cn"} }},
		{name: "trusts EC2", want: Pass},
		{name: "no profile", want: "", setup: noProfile},
	})
}

func TestDHMCDisabled(t *testing.T) {
	runRegionCases(t, "dhmc_disabled", []tc{
		{name: "DHMC off while instances have no usable profile", want: Fail, sev: High,
			setup: func(f *fixture) {
				noProfile(f)
				f.addInstance("i-0abc0000000000002", func(in *inventory.Instance) {
					in.ProfileARN = profileARN // usable: does not rely on DHMC
				})
				f.addInstance("i-0abc0000000000003", func(in *inventory.Instance) { in.ProfileARN = "" })
				f.addInstance("i-0abc0000000000004", func(in *inventory.Instance) {
					in.ProfileARN = ""
					in.State = "stopped"
				})
			},
			detail: []string{"DHMC is off in " + acctID + "/" + regionName, "2 running instances"},
			evidence: map[string]any{"relyingInstances": 2, "settingValue": "$None",
				"sample": []string{instID, "i-0abc0000000000003"}}},
		{name: "role without UpdateInstanceInformation relies on DHMC", want: Fail,
			setup:    withoutRegister,
			evidence: map[string]any{"relyingInstances": 1}},
		{name: "every instance has a usable profile", want: Pass},
		{name: "DHMC on", want: Pass,
			setup: func(f *fixture) {
				noProfile(f)
				f.enableDHMC()
			}},
		{name: "setting not read", want: "",
			setup: func(f *fixture) { f.reg.DHMC = nil }},
	}, settingARN)
}

func TestDHMCRoleMisconfigured(t *testing.T) {
	runRegionCases(t, "dhmc_role_misconfigured", []tc{
		{name: "DHMC role deleted", want: Fail, sev: High,
			setup: func(f *fixture) {
				f.enableDHMC()
				f.acct.IAM.Roles[dhmcRole] = &inventory.Role{Name: dhmcRole, Exists: false}
			},
			detail:   []string{"The DHMC role " + dhmcRole, dhmcRoleMissing},
			evidence: map[string]any{"problems": []string{dhmcRoleMissing}, "roleName": dhmcRole}},
		{name: "DHMC role without its policy", want: Fail,
			setup:    breakDHMCRole,
			evidence: map[string]any{"problems": []string{dhmcPolicyMissing}}},
		{name: "DHMC role trusts EC2 instead of SSM", want: Fail,
			setup: func(f *fixture) {
				f.enableDHMC()
				f.acct.IAM.Roles[dhmcRole].TrustedServices = []string{"ec2.amazonaws.com"}
			},
			evidence: map[string]any{"problems": []string{dhmcTrustMissing}}},
		{name: "custom policy with the same permissions is good enough", want: Pass,
			setup: func(f *fixture) {
				f.enableDHMC()
				f.acct.IAM.Roles[dhmcRole].AttachedPolicyARNs = []string{"arn:aws:iam::111122223333:policy/custom"}
			}},
		{name: "healthy DHMC", want: Pass, setup: func(f *fixture) { f.enableDHMC() }},
		{name: "DHMC off", want: ""},
		{name: "DHMC role not read", want: "",
			setup: func(f *fixture) {
				f.enableDHMC()
				f.acct.IAM.Roles[dhmcRole].Err = &inventory.CollectError{Kind: "access-denied"}
			}},
	}, settingARN)
}

func TestDHMCShadowedByInstanceProfile(t *testing.T) {
	runInstanceCases(t, "dhmc_shadowed_by_instance_profile", []tc{
		{name: "DHMC on but an instance profile granting ssm:UpdateInstanceInformation shadows it", want: Fail, sev: Low,
			setup:    func(f *fixture) { f.enableDHMC() },
			detail:   []string{"ignores DHMC"},
			evidence: map[string]any{"profileArn": profileARN, "roleName": roleName}},
		{name: "DHMC on and no profile", want: Pass,
			setup: func(f *fixture) {
				f.enableDHMC()
				noProfile(f)
			}},
		{name: "DHMC on and the profile cannot register", want: Pass,
			setup: func(f *fixture) {
				f.enableDHMC()
				withoutRegister(f)
			}},
		{name: "DHMC off", want: ""},
		{name: "DHMC broken: the profile is the lifeline", want: "", setup: breakDHMCRole},
	})
}

func TestDHMCPrerequisitesUnmet(t *testing.T) {
	reliesOnDHMC := func(f *fixture) {
		f.enableDHMC()
		noProfile(f)
	}
	runInstanceCases(t, "dhmc_prerequisites_unmet", []tc{
		{name: "DHMC relied on with agent < 3.2.582.0", want: Fail, sev: High,
			setup: func(f *fixture) {
				reliesOnDHMC(f)
				f.inst().Agent.Version = "3.2.457.0"
			},
			detail:   []string{"SSM agent 3.2.457.0 is older than 3.2.582.0"},
			evidence: map[string]any{"agentVersion": "3.2.457.0"},
			check: func(t *testing.T, o Outcome) {
				if o.Remediation != nil {
					t.Errorf("agent-only failure should keep the manual remediation, got %+v", o.Remediation)
				}
			}},
		{name: "DHMC relied on with IMDS endpoint disabled", want: Fail,
			setup: func(f *fixture) {
				reliesOnDHMC(f)
				f.inst().Metadata.HTTPEndpoint = "disabled"
			},
			evidence: map[string]any{"HttpEndpoint": "disabled"},
			check: func(t *testing.T, o Outcome) {
				if o.Remediation == nil || o.Remediation.ID != "imds_enable_endpoint" || o.Remediation.Manual != "" {
					t.Errorf("remediation = %+v, want imds_enable_endpoint", o.Remediation)
				}
			}},
		{name: "both prerequisites unmet", want: Fail,
			setup: func(f *fixture) {
				reliesOnDHMC(f)
				f.inst().Metadata.HTTPEndpoint = "disabled"
				f.inst().Agent.Version = "2.3.0.0"
			},
			detail: []string{"IMDS endpoint is disabled and its SSM agent"},
			check: func(t *testing.T, o Outcome) {
				if o.Remediation == nil || o.Remediation.ID != "imds_enable_endpoint" || o.Remediation.Manual == "" {
					t.Errorf("remediation = %+v, want imds_enable_endpoint plus agent update", o.Remediation)
				}
			}},
		{name: "relies on DHMC and meets its prerequisites", want: Pass, setup: reliesOnDHMC},
		{name: "old agent but a usable profile", want: "",
			setup: func(f *fixture) {
				f.enableDHMC()
				f.inst().Agent.Version = "3.0.0.0"
			}},
		{name: "DHMC off", want: "",
			setup: func(f *fixture) {
				noProfile(f)
				f.inst().Agent.Version = "3.0.0.0"
			}},
	})
}
