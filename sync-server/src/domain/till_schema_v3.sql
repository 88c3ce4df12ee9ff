-- Version 3: a sale rung up at a till outside Aisle (a `store_sale` event, associate
-- 'outside-till', `aisle_core::model::OUTSIDE_TILL`) came from the till: it moves stock here
-- and is never queued to be sent back.
DROP TRIGGER IF EXISTS till_outbox_queue;
CREATE TRIGGER till_outbox_queue AFTER INSERT ON sales
WHEN NEW.associate_id <> 'outside-till'
BEGIN
    INSERT OR IGNORE INTO till_outbox (sale_id, store_id, queued_at, next_attempt_at)
    VALUES (NEW.sale_id, NEW.store_id, CAST(unixepoch('subsec') * 1000 AS INTEGER),
            CAST(unixepoch('subsec') * 1000 AS INTEGER));
END;
