"""Pages the simulator's ZEC and bare-metal fleets with the vendor's official Python SDK (zenlayercloud-sdk-python,
its ZecClient 2025-09-01 and BmcClient 2026-02-01), as a customer's script would: every page of
DescribeInstancesStatus (ZEC) and DescribeInstances (both), until totalCount. Prints what it read as JSON, for
tests/it/products.rs to hold against the simulator's ground truth.

Usage: python3 page_products.py HOST:PORT ACCESS_KEY_ID ACCESS_KEY_PASSWORD PAGE_SIZE
"""

import json
import sys

from zenlayercloud.bmc.v20260201 import bmc_client
from zenlayercloud.bmc.v20260201 import models as bmc
from zenlayercloud.common.config import Config
from zenlayercloud.common.credential import Credential
from zenlayercloud.zec.v20250901 import models as zec
from zenlayercloud.zec.v20250901 import zec_client


def walk(call, make_request, page_size):
    """Every row of every page, asking page 1, 2, ... until totalCount rows have come."""
    rows, page = [], 1
    while True:
        request = make_request()
        request.pageSize = page_size
        request.pageNum = page
        response = call(request)
        rows.extend(response.dataSet or [])
        if len(rows) >= (response.totalCount or 0) or not response.dataSet:
            return rows
        page += 1


def main():
    host, key_id, secret, page_size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    credential = Credential(key_id, secret)
    config = Config(scheme="http", domain=host, rate_limit_max_retries=0)
    zec_api = zec_client.ZecClient(credential, config)
    bmc_api = bmc_client.BmcClient(credential, config)
    out = {
        "zec_status": [
            [row.instanceId, row.instanceStatus]
            for row in walk(zec_api.DescribeInstancesStatus, zec.DescribeInstancesStatusRequest, page_size)
        ],
        "zec_instances": [
            [row.instanceId, row.status, row.instanceName, row.cpu, row.nics[0].primaryIpv4]
            for row in walk(zec_api.DescribeInstances, zec.DescribeInstancesRequest, page_size)
        ],
        "bmc_instances": [
            [row.instanceId, row.instanceStatus, row.instanceName, row.instanceType.cpuCores, row.primaryPublicIpAddress]
            for row in walk(bmc_api.DescribeInstances, bmc.DescribeInstancesRequest, page_size)
        ],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
