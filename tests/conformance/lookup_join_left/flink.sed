s/ FOR SYSTEM_TIME AS OF o\.p_time//
