/* SPDX-License-Identifier: MIT */
#pragma once

/* MESSAGE_ID values of notable journal events. Each has an entry in
 * units/agv-agent.catalog; never reuse or change a published id. */

#define MSGID_AGENT_STARTED              "c9aa5d57052844008e2c0523bff8a976"
#define MSGID_AGENT_STOPPING             "25847dfd651e4f97b3352bb31d2c65a1"
#define MSGID_CONFIG_RELOADED            "a0912b522a83429791d60ccfaa1f0f4f"
#define MSGID_CONFIG_RELOAD_FAILED       "4a9eb843cdd648d4a0779ec3ba084339"
#define MSGID_CERT_ACTIVATED             "dcbbc9574e6e45b19430e80a997ccd87"
#define MSGID_CERT_RENEWAL_PENDING       "9d9bdf82fa5b45658ecc5064517753a1"
#define MSGID_CERT_RENEWAL_INCOMPLETE    "368eb1b5fd274f2ea6869cb80187a8d4"
#define MSGID_CERT_REJECTED              "fde688bd5a754d68ac38d709f76cc65b"
#define MSGID_CERT_EXPIRING              "d86420afd47f4f77b94d8037b72442d3"
#define MSGID_CERT_EXPIRED               "9b610b581ce144eab05574eea225c2bb"
#define MSGID_CA_EXPIRING                "c820ee45c0b04e05ad5e25858f954824"
#define MSGID_CA_KEY_PRESENT             "73a1f0b2e1c246a7b127d5141b29723f"
#define MSGID_PERMISSION_REPAIRED        "49e7acefb7da42ca81a44c8f443e3891"
#define MSGID_PERMISSION_VIOLATION       "467e597008b94352b288f3bbc28cb1c7"
#define MSGID_CHILD_STARTED              "03d8d5eac4b249178bc30aa54a777283"
#define MSGID_CHILD_EXITED               "07ab3b5215f64eb98948f1ab6a4a63e7"
#define MSGID_CHILD_FAILED               "e2801845551644b5849d785bcd8653d5"
#define MSGID_CHILD_REPLACED             "091a9f3974ef4395bd3dd5fd3ff8ef14"
#define MSGID_CHILD_HEALTH_FAILED        "96c59e47f4144e06a8218956d8ed0747"
#define MSGID_ALERT_DELIVERY_FAILED      "6049c1d68c6e4db5afdad4f3cb41a022"
#define MSGID_ALERT_DELIVERED            "163cc992ffde4eeab7bd8d851ad2eb23"
#define MSGID_CA_EXPIRED                 "40a73253b3c147879bc78dd604fbd1d4"
#define MSGID_ALERT_FIRED                "3d9c28520c874b80afc08a8b80362ae9"
#define MSGID_ALERT_RESOLVED             "218e0557141644b8ae19cc6db0469d8d"
#define MSGID_CREDENTIALS_OBTAINED       "9a80bb4e103b4e4097e455d3eb0e47c2"
#define MSGID_CREDENTIALS_FAILED         "38236349954a44eebb80572754f3aba6"
#define MSGID_RENEWED_CERT_REJECTED      "a2e089bb2e6a4767a464ffe2fd68fee7"
