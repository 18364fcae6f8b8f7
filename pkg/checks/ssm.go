package checks

import (
	"fmt"

	"github.com/fleetdoctor/fleetdoctor/pkg/inventory"
)

// The SSM family judges what Systems Manager knows of each running
// instance's agent. A stopped instance's agent is offline by design, so only
// running instances are judged.
var ssmChecks = []*Check{
	{
		Meta: Meta{
			ID:           "ssm_not_registered",
			Family:       FamilySSM,
			Title:        "Running instance is not registered with Systems Manager",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "The instance has been running longer than the registration grace period but SSM has never heard " +
				"from its agent: no Run Command, Session Manager, patching or inventory, and no on-host diagnosis.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceManaged},
			Remediation: Remediation{Manual: "Run `fleetdoctor diagnose` on the instance's account-region and read the " +
				"identity and network findings for the same instance, which say why the agent cannot register; if there " +
				"are none, check from the console or EC2 Serial Console that the agent is installed and running. Not " +
				"automatic: the fix is whatever stops the agent, and fleetdoctor cannot reach an unregistered host."},
		},
		Instance: ssmNotRegistered,
	},
	{
		Meta: Meta{
			ID:           "ssm_connection_lost",
			Family:       FamilySSM,
			Title:        "SSM agent has lost its connection",
			Severity:     High,
			ResourceType: TypeInstance,
			Risk: "SSM reports the agent of a running instance as ConnectionLost or Inactive: it registered once but has " +
				"stopped calling in, so commands, sessions and patching no longer reach the instance.",
			Needs: []inventory.Source{inventory.SourceInstances, inventory.SourceManaged},
			Remediation: Remediation{Manual: "The agent is offline and cannot be reached through SSM: check the instance " +
				"from the console or the EC2 Serial Console (agent running? credentials? clock?) and read the identity and " +
				"network findings for the same instance, which say why. Not automatic: every automatic fix travels through " +
				"the agent that is offline."},
		},
		Instance: ssmConnectionLost,
	},
	{
		Meta: Meta{
			ID:           "ssm_agent_outdated",
			Family:       FamilySSM,
			Title:        "SSM agent is older than the fleet minimum",
			Severity:     Medium,
			ResourceType: TypeInstance,
			Risk: "An agent below the fleet's minimum version misses fixes and features the fleet relies on; below " +
				DHMCMinAgentVersion + " it cannot use Default Host Management Configuration at all, so an instance that " +
				"relies on DHMC for credentials drops out of management (severity high then).",
			Needs:       []inventory.Source{inventory.SourceInstances, inventory.SourceManaged},
			Remediation: Remediation{Manual: manualAgentUpdate},
		},
		Instance: ssmAgentOutdated,
	},
}

func ssmNotRegistered(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() {
		return Outcome{}
	}
	if in.Agent != nil {
		return Outcome{Status: Pass}
	}
	age, ok := s.age(in.LaunchTime)
	if !ok || age <= s.Config.RegistrationGrace {
		return Outcome{} // an agent may take a few minutes to register
	}
	profile := in.ProfileARN
	if profile == "" {
		profile = "none"
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("%s has been running for %s but is not registered with Systems Manager.", in.ID, roundAge(age)),
		Evidence: map[string]any{"launchTime": in.LaunchTime, "registrationGrace": s.Config.RegistrationGrace.String(),
			"profileArn": profile, "subnet": in.SubnetID},
	}
}

func ssmConnectionLost(_ *Scope, in *inventory.Instance) Outcome {
	if !in.Running() || in.Agent == nil {
		return Outcome{}
	}
	switch in.Agent.PingStatus {
	case "Online":
		return Outcome{Status: Pass}
	case "ConnectionLost", "Inactive":
	default:
		return Outcome{}
	}
	ev := map[string]any{"PingStatus": in.Agent.PingStatus, "agentVersion": in.Agent.Version}
	if !in.Agent.LastPing.IsZero() {
		ev["lastPing"] = in.Agent.LastPing
	}
	return Outcome{
		Status: Fail,
		Detail: fmt.Sprintf("The SSM agent on running instance %s is %s, so Systems Manager cannot reach it.",
			in.ID, in.Agent.PingStatus),
		Evidence: ev,
	}
}

func ssmAgentOutdated(s *Scope, in *inventory.Instance) Outcome {
	if !in.Running() || in.Agent == nil {
		return Outcome{}
	}
	v := in.Agent.Version
	vsDHMC, ok := compareVersions(v, DHMCMinAgentVersion)
	if !ok {
		return Outcome{} // an unparsable version says nothing about age
	}
	vsMin, minOK := compareVersions(v, s.Config.AgentMinVersion)
	belowMin := minOK && vsMin < 0
	relies, reliesKnown := s.reliesOnDHMC(in)
	belowDHMC := relies && vsDHMC < 0
	if !belowMin && !belowDHMC {
		return Outcome{Status: Pass}
	}
	ev := map[string]any{"agentVersion": v, "minimumVersion": s.Config.AgentMinVersion}
	if reliesKnown {
		ev["reliesOnDHMC"] = relies
	}
	o := Outcome{Status: Fail, Evidence: ev}
	if belowDHMC {
		o.Severity = High
		ev["dhmcMinimumVersion"] = DHMCMinAgentVersion
		o.Detail = fmt.Sprintf("SSM agent %s on %s is older than %s, the first version that supports DHMC, which this "+
			"instance relies on for credentials.", v, in.ID, DHMCMinAgentVersion)
	} else {
		o.Detail = fmt.Sprintf("SSM agent %s on %s is older than the fleet minimum %s.", v, in.ID, s.Config.AgentMinVersion)
	}
	return o
}
