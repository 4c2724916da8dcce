s/ FOR SYSTEM_TIME AS OF o\.proc//
