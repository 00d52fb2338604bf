// The page's texts in English and French. French uses the marketplaces'
// own words (commande, vendeur, acheteur, livraison, valider).
const en = {
  skip: 'Skip to the content', title: 'Your order', langHint: "Change the page's language",
  langButton: 'Français', summaryH: 'Order', orderId: 'Order', orderState: 'State', you: 'You are',
  seller: 'the seller', buyer: 'the buyer', admin: 'an administrator',
  state_open: 'open', state_disputed: 'in dispute', state_accepted: 'accepted', state_cancelled: 'cancelled',
  lockNote: 'Originals are locked: not released yet. The order must be accepted first; until then you see watermarked previews.',
  lockNoteDisputed: 'Originals are locked while the order is in dispute.',
  lockNoteCancelled: 'The order was cancelled: previews and originals are no longer available.',
  released: 'Released on {date}: the originals are yours to download.',
  sendH: 'Send a delivery', dropHint: 'Drop your files here, or', pick: 'Choose files',
  total: 'Total', pauseAll: 'Pause', resumeAll: 'Resume', message: 'Message to the buyer',
  submit: 'Send the delivery', sending: 'Sending the delivery…', sent: 'Delivery {n} sent. Previews are being made.',
  waiting: 'waiting', uploading: 'uploading', paused: 'paused', done: 'uploaded', failedUp: 'failed',
  retrying: 'connection lost, retrying…', remove: 'Remove {name}',
  speed: '{done} of {size} · {speed}/s · {eta} left', speedDone: '{size} uploaded',
  resumeHint: 'Unfinished upload: {name} ({size}). Choose the same file again to resume where it stopped.',
  deliveriesH: 'Deliveries', noDeliveries: 'Nothing has been delivered yet.',
  deliveryH: 'Delivery {n}', deliveredOn: 'delivered on {date}',
  dstate_processing: 'previews being made', dstate_ready: 'ready', dstate_failed: 'some previews failed',
  zip: 'Download all originals (zip)', zipLocked: 'All originals (zip): locked',
  preview_processing: 'Preview being made…', preview_withheld: 'No preview can be shown for this type of file.',
  preview_failed: 'The preview could not be made: {reason}', preview_purged: 'Removed on {date} (retention period over).',
  openPdf: 'Open the PDF preview', openZip: 'Preview zip (watermarked images and the list of every entry)',
  viewImage: 'Enlarge the preview of {name}', previewAlt: 'Watermarked preview of {name}',
  size: 'Size', type: 'Type', sha256: 'SHA-256', commitment: 'Commitment',
  commitmentHelp: 'A sealed fingerprint: the plain SHA-256 and its salt are revealed on release.',
  original: 'Download the original', originalLocked: 'Original locked: not released yet (the order must be accepted)',
  firstSeen: 'First seen by the buyer on {date}', notSeen: 'Not seen by the buyer yet',
  downloads: 'Downloaded {n} times by the buyer', downloads1: 'Downloaded once by the buyer', downloads0: 'Not downloaded by the buyer yet',
  manifestCaption: 'Contents of the archive ({n} entries)', manifestLoading: 'Reading the list of entries…', manifestError: 'The list of entries could not be read; it is in the preview zip (MANIFEST.txt).',
  mState: 'Entry', mSize: 'Size', mType: 'Type', mName: 'Name', mNote: 'Preview or reason',
  m_previewed: 'previewed', m_withheld: 'listed only', m_directory: 'folder',
  historyH: 'History', prev: 'Previous', next: 'Next', close: 'Close', loading: 'Loading the order…',
  updated: 'Previews updated.', noToken: 'This page needs the link you were sent (it carries your access key). Open that link again.',
  act_order_created: 'Order created', act_order_accepted: 'Order accepted', act_order_cancelled: 'Order cancelled',
  act_order_disputed: 'Dispute opened', act_order_released: 'Originals released', act_order_purged: 'Files purged',
  act_delivery_created: 'Delivery sent', act_delivery_ready: 'Previews ready', act_delivery_failed: 'Previews failed',
  act_delivery_downloaded: 'Zip downloaded', act_file_uploaded: 'File received', act_file_preview: 'Preview made',
  act_file_previewed: 'Preview seen by the buyer', act_file_downloaded: 'Original downloaded', act_file_released: 'Original released',
  err_unauthorized: 'Your link has expired or is not valid. Ask the marketplace for a new link.',
  err_not_released: 'Not released yet: the order must be accepted before the originals can be downloaded.',
  err_too_large: 'This is over the size limit. Send fewer or smaller files.',
  err_rate_limited: 'Too many requests in a short time. Wait a minute, then try again.',
  err_wrong_state: 'This order no longer accepts this action (it is accepted or cancelled).',
  err_not_seller: 'Only the seller of this order can send a delivery.',
  err_wrong_order: 'This link is for another order.', err_not_party: 'You are not a party to this order.',
  err_not_found: 'This order or file does not exist (any more).', err_revoked: 'The order was cancelled: previews are no longer shown.',
  err_purged: 'This file was removed when its retention period ended.', err_download_limit: 'The download limit for this file is reached.',
  err_empty_upload: 'An empty file cannot be delivered.', err_unsupported: 'This kind of request or file is not supported.',
  err_bad_request: 'The request was not understood.', err_bad_id: 'This address is not a valid order.',
  err_forbidden: 'You are not allowed to do this.', err_gone: 'This upload expired. Choose the file again to start over.',
  err_idempotency_key_in_use: 'This delivery is already being sent.', err_network: 'The connection to the server was lost. Check your connection; uploads resume on their own.',
  err_upload_expired: 'This upload was left unfinished too long and expired. Choose the file again to start over.',
  err_no_such_upload: 'This upload is no longer on the server. Choose the file again to start over.',
  err_link_expired: 'This download link has expired. Ask for a new one.',
  err_link_used_up: 'This download link has been used as many times as it allows. Ask for a new one.',
  err_link_revoked: 'This download link was withdrawn. Ask for a new one.',
  err_not_minter: 'Only whoever made this link can withdraw it.',
  err_bad_purpose: 'A link is for a preview or for an original.', err_bad_ttl: 'This link would last longer than allowed.',
  err_bad_max_uses: 'A link can be used from 1 to 10,000 times.',
  err_not_admin: 'Only the marketplace can do this.', err_bad_state: 'The request was not understood.',
  err_too_many_uploads: 'Too many unfinished uploads for this order. Send the finished ones or remove some first.',
  err_upload_busy: 'This file is being uploaded from another tab or device.',
  err_upload_damaged: 'This upload was damaged on the server. Choose the file again to start over.',
  err_offset_mismatch: 'The server and this page disagree on how much was sent; retrying from the server\u2019s count.',
  err_bad_checksum: 'A piece of the file arrived damaged and was refused; it is sent again.',
  err_bad_metadata: 'This file name cannot be used (control characters or slashes). Rename the file and try again.',
  err_chunk_too_large: 'A piece of the file is over the size limit.',
  err_bad_content_type: 'The page sent something the server does not take (content type). Reload the page.',
  err_bad_idempotency_key: 'The page sent an unusable request key. Reload the page and send again.',
  err_idempotency_key_reused: 'This delivery was already sent with other files. Reload the page to see it.',
  err_bad_upload_length: 'The file size could not be read. Choose the file again.',
  err_bad_upload_offset: 'The server and this page disagree on how much was sent; retrying.',
  err_defer_length: 'Uploads of unknown size are not taken: choose a file.',
  err_no_preview: 'This preview is not ready yet.',
  err_no_poster: 'This preview has no poster image.',
  err_timeout: 'The server took too long to answer. Try again in a moment.',
  err_worker_timeout: 'The server took too long to answer. Try again in a moment.',
  err_worker_unavailable: 'The service is restarting. Try again in a few seconds.',
  err_method_not_allowed: 'This action is not possible here.',
  err_range_not_satisfiable: 'This part of the file does not exist. Download the whole file again.',
  err_unreadable: 'This file could not be read.', err_crashed: 'Making the preview of this file failed.',
  err_internal: 'Something went wrong on our side. Try again in a moment.', err_unknown: 'Something went wrong ({code}).',
};
const fr = {
  skip: 'Aller au contenu', title: 'Votre commande', langHint: 'Changer la langue de la page',
  langButton: 'English', summaryH: 'Commande', orderId: 'Commande', orderState: 'État', you: 'Vous êtes',
  seller: 'le vendeur', buyer: "l'acheteur", admin: 'un administrateur',
  state_open: 'en cours', state_disputed: 'en litige', state_accepted: 'validée', state_cancelled: 'annulée',
  lockNote: "Originaux verrouillés : pas encore libérés. La commande doit d'abord être validée ; en attendant, vous voyez des aperçus filigranés.",
  lockNoteDisputed: 'Les originaux restent verrouillés pendant le litige.',
  lockNoteCancelled: "La commande a été annulée : aperçus et originaux ne sont plus disponibles.",
  released: 'Libérés le {date} : vous pouvez télécharger les originaux.',
  sendH: 'Envoyer une livraison', dropHint: 'Déposez vos fichiers ici, ou', pick: 'Choisir des fichiers',
  total: 'Total', pauseAll: 'Mettre en pause', resumeAll: 'Reprendre', message: "Message pour l'acheteur",
  submit: 'Envoyer la livraison', sending: 'Envoi de la livraison…', sent: 'Livraison {n} envoyée. Les aperçus sont en préparation.',
  waiting: 'en attente', uploading: 'envoi en cours', paused: 'en pause', done: 'envoyé', failedUp: 'échec',
  retrying: 'connexion perdue, nouvel essai…', remove: 'Retirer {name}',
  speed: '{done} sur {size} · {speed}/s · encore {eta}', speedDone: '{size} envoyés',
  resumeHint: 'Envoi inachevé : {name} ({size}). Choisissez à nouveau le même fichier pour reprendre là où il s\u2019est arrêté.',
  deliveriesH: 'Livraisons', noDeliveries: "Rien n'a encore été livré.",
  deliveryH: 'Livraison {n}', deliveredOn: 'livrée le {date}',
  dstate_processing: 'aperçus en préparation', dstate_ready: 'prête', dstate_failed: 'des aperçus ont échoué',
  zip: 'Télécharger tous les originaux (zip)', zipLocked: 'Tous les originaux (zip) : verrouillés',
  preview_processing: 'Aperçu en préparation…', preview_withheld: "Aucun aperçu ne peut être montré pour ce type de fichier.",
  preview_failed: "L'aperçu n'a pas pu être créé : {reason}", preview_purged: 'Supprimé le {date} (fin de la durée de conservation).',
  openPdf: "Ouvrir l'aperçu PDF", openZip: 'Zip d\u2019aperçu (images filigranées et liste de tout le contenu)',
  viewImage: "Agrandir l'aperçu de {name}", previewAlt: 'Aperçu filigrané de {name}',
  size: 'Taille', type: 'Type', sha256: 'SHA-256', commitment: 'Empreinte scellée',
  commitmentHelp: 'Le SHA-256 en clair et son sel sont révélés à la libération.',
  original: "Télécharger l'original", originalLocked: 'Original verrouillé : pas encore libéré (la commande doit être validée)',
  firstSeen: "Vu pour la première fois par l'acheteur le {date}", notSeen: "Pas encore vu par l'acheteur",
  downloads: "Téléchargé {n} fois par l'acheteur", downloads1: "Téléchargé une fois par l'acheteur", downloads0: "Pas encore téléchargé par l'acheteur",
  manifestCaption: "Contenu de l'archive ({n} éléments)", manifestLoading: 'Lecture de la liste des éléments…', manifestError: "La liste des éléments n'a pas pu être lue ; elle est dans le zip d'aperçu (MANIFEST.txt).",
  mState: 'Élément', mSize: 'Taille', mType: 'Type', mName: 'Nom', mNote: 'Aperçu ou raison',
  m_previewed: 'en aperçu', m_withheld: 'listé seulement', m_directory: 'dossier',
  historyH: 'Historique', prev: 'Précédent', next: 'Suivant', close: 'Fermer', loading: 'Chargement de la commande…',
  updated: 'Aperçus mis à jour.', noToken: "Cette page a besoin du lien que vous avez reçu (il porte votre clé d'accès). Ouvrez ce lien à nouveau.",
  act_order_created: 'Commande créée', act_order_accepted: 'Commande validée', act_order_cancelled: 'Commande annulée',
  act_order_disputed: 'Litige ouvert', act_order_released: 'Originaux libérés', act_order_purged: 'Fichiers supprimés',
  act_delivery_created: 'Livraison envoyée', act_delivery_ready: 'Aperçus prêts', act_delivery_failed: 'Échec des aperçus',
  act_delivery_downloaded: 'Zip téléchargé', act_file_uploaded: 'Fichier reçu', act_file_preview: 'Aperçu créé',
  act_file_previewed: "Aperçu vu par l'acheteur", act_file_downloaded: 'Original téléchargé', act_file_released: 'Original libéré',
  err_unauthorized: 'Votre lien a expiré ou n\u2019est pas valide. Demandez un nouveau lien à la plateforme.',
  err_not_released: 'Pas encore libéré : la commande doit être validée avant de télécharger les originaux.',
  err_too_large: 'La taille maximale est dépassée. Envoyez moins de fichiers ou des fichiers plus petits.',
  err_rate_limited: 'Trop de demandes en peu de temps. Patientez une minute puis réessayez.',
  err_wrong_state: "Cette commande n'accepte plus cette action (elle est validée ou annulée).",
  err_not_seller: 'Seul le vendeur de cette commande peut envoyer une livraison.',
  err_wrong_order: 'Ce lien concerne une autre commande.', err_not_party: "Vous n'êtes pas partie à cette commande.",
  err_not_found: "Cette commande ou ce fichier n'existe pas (ou plus).", err_revoked: 'La commande a été annulée : les aperçus ne sont plus affichés.',
  err_purged: 'Ce fichier a été supprimé à la fin de sa durée de conservation.', err_download_limit: 'La limite de téléchargements de ce fichier est atteinte.',
  err_empty_upload: 'Un fichier vide ne peut pas être livré.', err_unsupported: "Ce type de demande ou de fichier n'est pas pris en charge.",
  err_bad_request: "La demande n'a pas été comprise.", err_bad_id: "Cette adresse ne correspond à aucune commande valide.",
  err_forbidden: "Vous n'avez pas le droit de faire ceci.", err_gone: 'Cet envoi a expiré. Choisissez à nouveau le fichier pour recommencer.',
  err_idempotency_key_in_use: 'Cette livraison est déjà en cours d\u2019envoi.', err_network: 'La connexion au serveur est perdue. Vérifiez votre connexion ; les envois reprennent seuls.',
  err_upload_expired: "Cet envoi est resté inachevé trop longtemps et a expiré. Choisissez à nouveau le fichier pour recommencer.",
  err_no_such_upload: "Cet envoi n'est plus sur le serveur. Choisissez à nouveau le fichier pour recommencer.",
  err_link_expired: 'Ce lien de téléchargement a expiré. Demandez-en un nouveau.',
  err_link_used_up: 'Ce lien de téléchargement a servi autant de fois que permis. Demandez-en un nouveau.',
  err_link_revoked: 'Ce lien de téléchargement a été retiré. Demandez-en un nouveau.',
  err_not_minter: "Seule la personne qui a créé ce lien peut le retirer.",
  err_bad_purpose: "Un lien sert pour un aperçu ou pour un original.", err_bad_ttl: 'Ce lien durerait plus longtemps que permis.',
  err_bad_max_uses: 'Un lien peut servir de 1 à 10 000 fois.',
  err_not_admin: 'Seule la plateforme peut faire ceci.', err_bad_state: "La demande n'a pas été comprise.",
  err_too_many_uploads: 'Trop d\u2019envois inachevés pour cette commande. Envoyez ceux qui sont terminés ou retirez-en d\u2019abord.',
  err_upload_busy: 'Ce fichier est en cours d\u2019envoi depuis un autre onglet ou appareil.',
  err_upload_damaged: "Cet envoi a été endommagé sur le serveur. Choisissez à nouveau le fichier pour recommencer.",
  err_offset_mismatch: 'Le serveur et cette page ne sont pas d\u2019accord sur la quantité envoyée ; reprise depuis le compte du serveur.',
  err_bad_checksum: 'Un morceau du fichier est arrivé endommagé et a été refusé ; il est renvoyé.',
  err_bad_metadata: 'Ce nom de fichier ne peut pas être utilisé (caractères de contrôle ou barres obliques). Renommez le fichier et réessayez.',
  err_chunk_too_large: 'Un morceau du fichier dépasse la taille maximale.',
  err_bad_content_type: "La page a envoyé quelque chose que le serveur n'accepte pas (type de contenu). Rechargez la page.",
  err_bad_idempotency_key: "La page a envoyé une clé de demande inutilisable. Rechargez la page et renvoyez.",
  err_idempotency_key_reused: 'Cette livraison a déjà été envoyée avec d\u2019autres fichiers. Rechargez la page pour la voir.',
  err_bad_upload_length: "La taille du fichier n'a pas pu être lue. Choisissez à nouveau le fichier.",
  err_bad_upload_offset: 'Le serveur et cette page ne sont pas d\u2019accord sur la quantité envoyée ; nouvel essai.',
  err_defer_length: "Les envois de taille inconnue ne sont pas acceptés : choisissez un fichier.",
  err_no_preview: "Cet aperçu n'est pas encore prêt.",
  err_no_poster: "Cet aperçu n'a pas d'image d'affiche.",
  err_timeout: 'Le serveur a mis trop de temps à répondre. Réessayez dans un instant.',
  err_worker_timeout: 'Le serveur a mis trop de temps à répondre. Réessayez dans un instant.',
  err_worker_unavailable: 'Le service redémarre. Réessayez dans quelques secondes.',
  err_method_not_allowed: "Cette action n'est pas possible ici.",
  err_range_not_satisfiable: "Cette partie du fichier n'existe pas. Téléchargez à nouveau le fichier entier.",
  err_unreadable: "Ce fichier n'a pas pu être lu.", err_crashed: "La création de l'aperçu de ce fichier a échoué.",
  err_internal: 'Un problème est survenu de notre côté. Réessayez dans un instant.', err_unknown: 'Un problème est survenu ({code}).',
};

const dicts = { en, fr };
let lang = 'en';

export function pickLanguage() {
  const saved = localStorage.getItem('filigrane:lang');
  if (saved && dicts[saved]) return saved;
  const prefs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'];
  for (const p of prefs) {
    const base = String(p).toLowerCase().split('-')[0];
    if (dicts[base]) return base;
  }
  return 'en';
}

export function setLanguage(l) {
  lang = dicts[l] ? l : 'en';
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}

export function currentLanguage() { return lang; }

export function t(key, vars = {}) {
  const s = dicts[lang][key] ?? en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

export function has(key) { return key in en; }

export function errorText(code) {
  const c = code === 'expired' || code === 'bad_token' ? 'unauthorized' : code;
  return has('err_' + c) ? t('err_' + c) : t('err_unknown', { code: String(code).slice(0, 40) });
}

export function formatDate(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso || '');
  return d.toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB', { dateStyle: 'long', timeStyle: 'short' });
}

export function formatSize(n) {
  const units = lang === 'fr' ? ['o', 'ko', 'Mo', 'Go', 'To'] : ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = Number(n) || 0, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  const num = v.toLocaleString(lang === 'fr' ? 'fr-FR' : 'en-GB', { maximumFractionDigits: i ? 1 : 0 });
  return `${num}\u00a0${units[i]}`;
}

export function formatDuration(s) {
  if (!Number.isFinite(s) || s < 0) return '…';
  s = Math.round(s);
  if (s < 60) return `${s}\u00a0s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}\u00a0min ${s % 60}\u00a0s`;
  return `${Math.floor(m / 60)}\u00a0h ${m % 60}\u00a0min`;
}
