"""A dedicated VPC for the lab, over two availability zones chosen by zone ID (`chaoslab.config.zones`).

By default there is no NAT gateway: it would cost more per hour than three spot nodes. Nodes then sit
in public subnets with public IPs; nothing from the internet reaches them because no security group the
lab (or EKS) creates admits internet traffic. `private_nodes=True` moves nodes into private subnets
behind one NAT gateway instead, the production layout.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from chaoslab.config.zones import ZONE_SLOTS, Zone

VPC_CIDR = "10.42.0.0/16"
# /20s leave room for the VPC CNI, which gives every pod an address from its node's subnet. The lower
# half of the VPC holds the public subnets, the upper half the private ones, one /20 per zone slot.
SUBNET_PREFIX = 20
# Subnet tags the AWS load balancer integrations use to find where to put public and internal LBs.
PUBLIC_ELB_TAG = "kubernetes.io/role/elb"
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"
ANYWHERE = "0.0.0.0/0"


def subnet_cidr(zone: Zone, *, private: bool) -> str:
    """The zone's own /20: a subnet keeps its CIDR whichever other zones are chosen."""
    half = list(ipaddress.ip_network(VPC_CIDR).subnets(prefixlen_diff=1))[int(private)]
    slots = list(half.subnets(new_prefix=SUBNET_PREFIX))
    assert len(slots) == ZONE_SLOTS, "each half of the VPC holds one /20 per zone slot"
    return str(slots[zone.slot])


@dataclass
class NetworkArgs:
    cluster_name: str
    private_nodes: bool
    zones: Sequence[Zone]


class Network(pulumi.ComponentResource):
    # The zones the subnets are in, in order (plain: known when the program runs).
    zones: list[Zone]
    vpc_id: pulumi.Output[str]
    public_subnet_ids: pulumi.Output[list[str]]
    private_subnet_ids: pulumi.Output[list[str]]
    node_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("chaos-lab:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=VPC_CIDR,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{name}-vpc"},
            opts=child,
        )
        # Taking over the VPC's default security group with no rules leaves nothing that admits traffic by accident.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=child)
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, gateway_id=gateway.id)],
            opts=child,
        )
        public_subnets = [
            self._subnet(
                f"{name}-public-{zone.zone_id}",
                vpc.id,
                zone,
                subnet_cidr(zone, private=False),
                public_routes.id,
                # Without a NAT gateway, nodes need their own public address to pull images and reach AWS APIs.
                map_public_ip=not args.private_nodes,
                tags={**cluster_tag, PUBLIC_ELB_TAG: "1"},
            )
            for zone in args.zones
        ]
        private_subnets: list[aws.ec2.Subnet] = []
        if args.private_nodes:
            nat_address = aws.ec2.Eip(f"{name}-nat", domain="vpc", opts=child)
            nat = aws.ec2.NatGateway(
                f"{name}-nat",
                allocation_id=nat_address.id,
                subnet_id=public_subnets[0].id,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway]),
            )
            private_routes = aws.ec2.RouteTable(
                f"{name}-private",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block=ANYWHERE, nat_gateway_id=nat.id)],
                opts=child,
            )
            private_subnets = [
                self._subnet(
                    f"{name}-private-{zone.zone_id}",
                    vpc.id,
                    zone,
                    subnet_cidr(zone, private=True),
                    private_routes.id,
                    map_public_ip=False,
                    tags={**cluster_tag, INTERNAL_ELB_TAG: "1"},
                )
                for zone in args.zones
            ]

        self.zones = list(args.zones)
        self.vpc_id = vpc.id
        self.public_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in public_subnets])
        self.private_subnet_ids = pulumi.Output.all(*[subnet.id for subnet in private_subnets])
        self.node_subnet_ids = self.private_subnet_ids if args.private_nodes else self.public_subnet_ids
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "public_subnet_ids": self.public_subnet_ids,
                "private_subnet_ids": self.private_subnet_ids,
                "node_subnet_ids": self.node_subnet_ids,
            }
        )

    def _subnet(
        self,
        name: str,
        vpc_id: pulumi.Input[str],
        zone: Zone,
        cidr: str,
        route_table_id: pulumi.Input[str],
        *,
        map_public_ip: bool,
        tags: dict[str, str],
    ) -> aws.ec2.Subnet:
        subnet = aws.ec2.Subnet(
            name,
            vpc_id=vpc_id,
            # By ID: the name behind an ID differs from account to account.
            availability_zone_id=zone.zone_id,
            cidr_block=cidr,
            map_public_ip_on_launch=map_public_ip,
            tags={"Name": name, **tags},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.ec2.RouteTableAssociation(
            name, subnet_id=subnet.id, route_table_id=route_table_id, opts=pulumi.ResourceOptions(parent=self)
        )
        return subnet
